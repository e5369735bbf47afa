//! The route table: matchit's tree from a pattern to its [`PathRoute`], one method table
//! per pattern, and the errors registration reports (conflicts name both routes and the
//! plugins that registered them).

use std::sync::Arc;

use http::Method;

use super::Router;
use crate::error::RouteError;
use crate::handler::Handler;
use crate::method_router::{MethodRouter, RouteHandler};

/// A path pattern and its method table.
#[derive(Clone)]
pub(super) struct PathRoute {
    pub(super) pattern: Arc<str>,
    /// Parameter names in pattern order, shared by every request that matches.
    pub(super) param_names: Arc<[Arc<str>]>,
    pub(super) methods: MethodRouter,
    /// Where its catch-all parameter starts (`/files/{*path}`: 7), if it has one: a nest
    /// whose prefix reaches past it owns the paths under that prefix.
    pub(super) catch_all_at: Option<usize>,
}

impl PathRoute {
    pub(super) fn new(pattern: &str) -> Self {
        Self {
            pattern: Arc::from(pattern),
            param_names: param_names(pattern).into(),
            methods: MethodRouter::default(),
            catch_all_at: pattern.find("{*"),
        }
    }
}

impl Router {
    /// A route's handler as this router registers it: its pool and body mode as the
    /// handler says ([`Placed`](crate::Placed)), else the router's, once it is nested or
    /// merged.
    pub(super) fn endpoint(&self, handler: Arc<dyn Handler>) -> RouteHandler {
        let (pool, stream_limit, body_limit) = handler.placement();
        let pool = pool.map(Arc::from);
        RouteHandler {
            handler,
            scope: Arc::clone(&self.empty_scope),
            owner: self.owner.clone(),
            pool,
            stream_limit,
            body_limit,
            handler_timeout: None,
        }
    }

    pub(super) fn insert(
        &mut self,
        method: Option<Method>,
        pattern: &str,
        endpoint: RouteHandler,
    ) -> Result<(), RouteError> {
        let index = match self.by_pattern.get(pattern) {
            Some(&index) => index,
            None => {
                let index = self.routes.len();
                self.matcher
                    .insert(pattern, index)
                    .map_err(|error| self.insert_error(&method, pattern, &endpoint, error))?;
                self.routes.push(PathRoute::new(pattern));
                self.by_pattern.insert(pattern.to_owned(), index);
                index
            }
        };
        let new_owner = endpoint.owner.clone();
        self.routes[index]
            .methods
            .insert(method.clone(), endpoint)
            .map_err(|existing_owner| {
                let route = describe(method.as_ref(), pattern, new_owner.as_deref());
                RouteError::Conflict {
                    existing: describe(method.as_ref(), pattern, existing_owner.as_deref()),
                    existing_plugin: existing_owner.as_deref().map(str::to_owned),
                    route,
                    plugin: new_owner.as_deref().map(str::to_owned),
                }
            })
    }

    fn insert_error(
        &self,
        method: &Option<Method>,
        pattern: &str,
        endpoint: &RouteHandler,
        error: matchit::InsertError,
    ) -> RouteError {
        let route = describe(method.as_ref(), pattern, endpoint.owner.as_deref());
        match error {
            matchit::InsertError::Conflict { with } => {
                let existing = self
                    .by_pattern
                    .get(&with)
                    .and_then(|&i| self.routes[i].methods.entries().next());
                let (existing_method, existing_owner) = match existing {
                    Some((m, e)) => (m.cloned(), e.owner.clone()),
                    None => (None, None),
                };
                RouteError::Conflict {
                    existing: describe(existing_method.as_ref(), &with, existing_owner.as_deref()),
                    existing_plugin: existing_owner.as_deref().map(str::to_owned),
                    route,
                    plugin: endpoint.owner.as_deref().map(str::to_owned),
                }
            }
            other => RouteError::Invalid {
                pattern: pattern.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

fn describe(method: Option<&Method>, pattern: &str, owner: Option<&str>) -> String {
    let method = method.map_or("ANY", Method::as_str);
    match owner {
        Some(owner) => format!("{method} {pattern} (plugin {owner:?})"),
        None => format!("{method} {pattern}"),
    }
}

/// The names of a pattern's parameters, in order (`/a/{x}/{*rest}` gives `x`, `rest`).
fn param_names(pattern: &str) -> Vec<Arc<str>> {
    let mut names = Vec::new();
    let mut rest = pattern;
    while let Some(open) = rest.find('{') {
        if rest[open..].starts_with("{{") {
            rest = &rest[open + 2..];
            continue;
        }
        let Some(close) = rest[open..].find('}') else {
            break;
        };
        let name = &rest[open + 1..open + close];
        names.push(Arc::from(name.trim_start_matches('*')));
        rest = &rest[open + close + 1..];
    }
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_names_follow_the_pattern() {
        let names = |p: &str| {
            param_names(p)
                .iter()
                .map(|n| n.to_string())
                .collect::<Vec<_>>()
        };
        assert_eq!(names("/users/{id}/posts/{post}"), ["id", "post"]);
        assert_eq!(names("/files/{*path}"), ["path"]);
        assert_eq!(names("/{{literal}}/{x}"), ["x"]);
        assert!(names("/static").is_empty());
    }
}
