//! Path parameters captured by the router, percent-decoded, and typed state lookups.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

/// The parameters a route pattern captured, percent-decoded, in pattern order.
///
/// # Examples
///
/// ```
/// use switchyard::{Request, Router};
///
/// let router = Router::new().get("/files/{*path}", |req: &Request| {
///     req.param("path").unwrap_or_default().to_owned()
/// });
/// let res = router.handle(http::Request::get("/files/a%20b/c.txt").body(())?);
/// assert_eq!(res.into_body_bytes()?, b"a b/c.txt");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathParams {
    pairs: Vec<(Arc<str>, String)>,
}

impl PathParams {
    pub(crate) fn push(&mut self, name: Arc<str>, value: String) {
        self.pairs.push((name, value));
    }

    /// The decoded value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(key, _)| &**key == name)
            .map(|(_, value)| value.as_str())
    }

    /// Every `(name, value)` pair, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.pairs.iter().map(|(k, v)| (&**k, v.as_str()))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        self.pairs.len()
    }

    /// Whether the route captured nothing.
    pub fn is_empty(&self) -> bool {
        self.pairs.is_empty()
    }
}

/// Typed values shared by the handlers of a router: one value per type.
#[derive(Clone, Default)]
pub(crate) struct StateMap {
    values: HashMap<TypeId, Arc<dyn Any + Send + Sync>>,
}

impl StateMap {
    pub(crate) fn insert<T: Send + Sync + 'static>(&mut self, value: T) {
        self.values.insert(TypeId::of::<T>(), Arc::new(value));
    }

    pub(crate) fn get<T: 'static>(&self) -> Option<&T> {
        self.values.get(&TypeId::of::<T>())?.downcast_ref()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// Adds the values of `outer` whose types this map does not have (inner scopes win).
    pub(crate) fn inherit(&mut self, outer: &StateMap) {
        for (type_id, value) in &outer.values {
            self.values
                .entry(*type_id)
                .or_insert_with(|| Arc::clone(value));
        }
    }
}

impl fmt::Debug for StateMap {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StateMap")
            .field("types", &self.values.len())
            .finish()
    }
}

/// Decodes `%XX` escapes; `None` when the result is not UTF-8.
pub(crate) fn percent_decode(raw: &str) -> Option<String> {
    if !raw.contains('%') {
        // Nothing to decode, and `raw` is UTF-8 already.
        return Some(raw.to_owned());
    }
    percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_decoding() {
        assert_eq!(percent_decode("a%20b%2Fc").as_deref(), Some("a b/c"));
        assert_eq!(percent_decode("plain").as_deref(), Some("plain"));
        assert_eq!(percent_decode("%ff%fe"), None);
        assert_eq!(percent_decode("100%").as_deref(), Some("100%"));
    }

    #[test]
    fn inner_state_wins() {
        let mut inner = StateMap::default();
        inner.insert(1u32);
        let mut outer = StateMap::default();
        outer.insert(2u32);
        outer.insert("outer");
        inner.inherit(&outer);
        assert_eq!(inner.get::<u32>(), Some(&1));
        assert_eq!(inner.get::<&str>(), Some(&"outer"));
    }
}
