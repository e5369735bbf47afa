//! Path parameters captured by the router, percent-decoded, and typed state lookups.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use crate::head::SharedTarget;

/// The parameters a route pattern captured, percent-decoded, in pattern order.
///
/// Values without escapes are not copied: they are read from the request target, which the
/// parameters share. Up to four parameters are held without allocating.
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
#[derive(Clone, Default)]
pub struct PathParams {
    /// The request target that values without escapes are read from.
    target: Option<SharedTarget>,
    /// The route's parameter names, in pattern order: value `i` is parameter `names[i]`'s.
    names: Option<Arc<[Arc<str>]>>,
    /// The first values (all of them, on most routes).
    inline: [Slot; INLINE_PARAMS],
    len: u8,
    /// Decoded values and values past the inline ones, allocated only when needed.
    spill: Option<Box<Spill>>,
}

/// How many values a [`PathParams`] holds without allocating (unless they need decoding).
const INLINE_PARAMS: usize = 4;

/// Where a value lies: bytes `start..end` of the target, or (with `start == DECODED`)
/// `Spill::decoded[end]`.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    start: u32,
    end: u32,
}

const DECODED: u32 = u32::MAX;

#[derive(Debug, Clone, Default)]
struct Spill {
    more: Vec<Slot>,
    decoded: Vec<Box<str>>,
}

impl PathParams {
    /// Parameters named, in pattern order, by `names`; values without escapes are read
    /// from `target` (the request's) when they are slices of it, not copied (and `target`
    /// is asked for only when there are names).
    pub(crate) fn new(
        names: &Arc<[Arc<str>]>,
        target: impl FnOnce() -> Option<SharedTarget>,
    ) -> Self {
        if names.is_empty() {
            return Self::default();
        }
        Self {
            target: target(),
            names: Some(Arc::clone(names)),
            ..Self::default()
        }
    }

    /// Adds the next parameter's raw (still percent-encoded) value; `None` when the decoded
    /// value is not UTF-8.
    pub(crate) fn push_raw(&mut self, raw: &str) -> Option<()> {
        let slot = match self.range_in_target(raw) {
            Some((start, end)) if !raw.contains('%') => Slot { start, end },
            _ => {
                let decoded = percent_decode(raw)?.into_boxed_str();
                let spill = self.spill.get_or_insert_with(Box::default);
                spill.decoded.push(decoded);
                Slot {
                    start: DECODED,
                    end: u32::try_from(spill.decoded.len() - 1).ok()?,
                }
            }
        };
        match self.inline.get_mut(usize::from(self.len)) {
            Some(inline) => *inline = slot,
            None => self.spill.get_or_insert_with(Box::default).more.push(slot),
        }
        self.len = self.len.checked_add(1)?;
        Some(())
    }

    /// Where `raw` lies in the target, if it is a slice of it.
    fn range_in_target(&self, raw: &str) -> Option<(u32, u32)> {
        let target = self.target.as_ref()?.as_bytes();
        let start = (raw.as_ptr() as usize).checked_sub(target.as_ptr() as usize)?;
        let end = start + raw.len();
        if end > target.len() || start == DECODED as usize {
            return None;
        }
        Some((u32::try_from(start).ok()?, u32::try_from(end).ok()?))
    }

    fn slots(&self) -> impl Iterator<Item = &Slot> {
        let inline = &self.inline[..usize::from(self.len).min(INLINE_PARAMS)];
        let more = self.spill.as_ref().map_or(&[][..], |spill| &spill.more);
        inline.iter().chain(more)
    }

    fn text(&self, slot: &Slot) -> &str {
        let text = match slot.start {
            DECODED => self
                .spill
                .as_ref()
                .and_then(|spill| spill.decoded.get(slot.end as usize))
                .map(|value| &**value),
            start => self
                .target
                .as_ref()
                .and_then(|target| target.get(start as usize..slot.end as usize)),
        };
        text.unwrap_or_default()
    }

    fn names(&self) -> &[Arc<str>] {
        self.names.as_deref().unwrap_or_default()
    }

    /// The decoded value of parameter `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.iter()
            .find(|(key, _)| *key == name)
            .map(|(_, value)| value)
    }

    /// Every `(name, value)` pair, in pattern order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.names()
            .iter()
            .zip(self.slots())
            .map(|(name, slot)| (&**name, self.text(slot)))
    }

    /// The number of parameters.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Whether the route captured nothing.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl PartialEq for PathParams {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for PathParams {}

impl fmt::Debug for PathParams {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
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

    fn params_of(target: &str, values: &[(&str, &str)]) -> PathParams {
        let target = SharedTarget::Parsed(target.parse().unwrap());
        let names: Arc<[Arc<str>]> = values.iter().map(|(name, _)| Arc::from(*name)).collect();
        let mut params = PathParams::new(&names, || Some(target.clone()));
        let text = std::str::from_utf8(target.as_bytes()).unwrap();
        for (_, value) in values {
            let at = text.find(value).expect("value in target");
            params.push_raw(&text[at..at + value.len()]).unwrap();
        }
        params
    }

    #[test]
    fn values_are_read_from_the_target_or_decoded() {
        let params = params_of(
            "/a/x%20y/b/plain",
            &[("first", "x%20y"), ("second", "plain")],
        );
        assert_eq!(params.get("first"), Some("x y"));
        assert_eq!(params.get("second"), Some("plain"));
        assert_eq!(params.get("third"), None);
        assert_eq!(params.inline[1].start, 11, "read from the target");
        assert_eq!(params.len(), 2);
        assert_eq!(
            format!("{params:?}"),
            r#"{"first": "x y", "second": "plain"}"#
        );
    }

    #[test]
    fn values_from_elsewhere_are_copied() {
        let names: Arc<[Arc<str>]> = [Arc::from("id"), Arc::from("bad")].into();
        let mut params = PathParams::new(&names, || None);
        params.push_raw("7").unwrap();
        assert_eq!(params.get("id"), Some("7"));
        assert!(params.push_raw("%ff").is_none());
    }

    #[test]
    fn more_parameters_than_fit_inline_keep_their_order() {
        let names = ["a", "b", "c", "d", "e", "f"];
        let target = "/1/2/3/4/5/6%207";
        let values: Vec<(&str, &str)> = names
            .iter()
            .zip(["1", "2", "3", "4", "5", "6%207"])
            .map(|(name, value)| (*name, value))
            .collect();
        let params = params_of(target, &values);
        assert_eq!(params.len(), 6);
        let seen: Vec<_> = params.iter().collect();
        let mut expected = values.clone();
        expected[5].1 = "6 7";
        assert_eq!(seen, expected);
        assert_eq!(params, params.clone());
        assert!(!params.is_empty());
        assert!(PathParams::default().is_empty());
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
