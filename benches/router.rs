//! Route lookup on a GitHub-API-like table of 130 routes: switchyard's `Router` lookup
//! (matching, method table, percent-decoded parameters) against raw `matchit` on the same
//! table (matching and copying the parameters out), plus the whole in-process dispatch
//! (`Router::handle`: request in, trivial handler, response out) for scale; and what a
//! large router and a middleware chain add to one request (`router/cost`: the issue
//! "Performance, round 2" bounds each at 3 % of a request's server CPU).

use std::hint::black_box;

use criterion::{BatchSize, Bencher, Criterion, criterion_group, criterion_main};
use switchyard::http::{self, StatusCode};
use switchyard::{Next, Request, Router};

/// GitHub's REST API v3 routes (a subset, as in matchit's benchmarks), with `{param}`s.
const ROUTES: &[&str] = &[
    "/authorizations",
    "/authorizations/{id}",
    "/applications/{client_id}/tokens/{access_token}",
    "/events",
    "/repos/{owner}/{repo}/events",
    "/networks/{owner}/{repo}/events",
    "/orgs/{org}/events",
    "/users/{user}/received_events",
    "/users/{user}/received_events/public",
    "/users/{user}/events",
    "/users/{user}/events/public",
    "/users/{user}/events/orgs/{org}",
    "/feeds",
    "/notifications",
    "/repos/{owner}/{repo}/notifications",
    "/notifications/threads/{id}",
    "/notifications/threads/{id}/subscription",
    "/repos/{owner}/{repo}/stargazers",
    "/users/{user}/starred",
    "/user/starred",
    "/user/starred/{owner}/{repo}",
    "/repos/{owner}/{repo}/subscribers",
    "/users/{user}/subscriptions",
    "/user/subscriptions",
    "/repos/{owner}/{repo}/subscription",
    "/user/subscriptions/{owner}/{repo}",
    "/users/{user}/gists",
    "/gists",
    "/gists/{id}",
    "/gists/{id}/star",
    "/repos/{owner}/{repo}/git/blobs/{sha}",
    "/repos/{owner}/{repo}/git/commits/{sha}",
    "/repos/{owner}/{repo}/git/refs",
    "/repos/{owner}/{repo}/git/tags/{sha}",
    "/repos/{owner}/{repo}/git/trees/{sha}",
    "/issues",
    "/user/issues",
    "/orgs/{org}/issues",
    "/repos/{owner}/{repo}/issues",
    "/repos/{owner}/{repo}/issues/{number}",
    "/repos/{owner}/{repo}/assignees",
    "/repos/{owner}/{repo}/assignees/{assignee}",
    "/repos/{owner}/{repo}/issues/{number}/comments",
    "/repos/{owner}/{repo}/issues/{number}/events",
    "/repos/{owner}/{repo}/labels",
    "/repos/{owner}/{repo}/labels/{name}",
    "/repos/{owner}/{repo}/issues/{number}/labels",
    "/repos/{owner}/{repo}/milestones/{number}/labels",
    "/repos/{owner}/{repo}/milestones",
    "/repos/{owner}/{repo}/milestones/{number}",
    "/emojis",
    "/gitignore/templates",
    "/gitignore/templates/{name}",
    "/meta",
    "/rate_limit",
    "/users/{user}/orgs",
    "/user/orgs",
    "/orgs/{org}",
    "/orgs/{org}/members",
    "/orgs/{org}/members/{user}",
    "/orgs/{org}/public_members",
    "/orgs/{org}/public_members/{user}",
    "/orgs/{org}/teams",
    "/teams/{id}",
    "/teams/{id}/members",
    "/teams/{id}/members/{user}",
    "/teams/{id}/repos",
    "/teams/{id}/repos/{owner}/{repo}",
    "/user/teams",
    "/repos/{owner}/{repo}/pulls",
    "/repos/{owner}/{repo}/pulls/{number}",
    "/repos/{owner}/{repo}/pulls/{number}/commits",
    "/repos/{owner}/{repo}/pulls/{number}/files",
    "/repos/{owner}/{repo}/pulls/{number}/merge",
    "/repos/{owner}/{repo}/pulls/{number}/comments",
    "/user/repos",
    "/users/{user}/repos",
    "/orgs/{org}/repos",
    "/repositories",
    "/repos/{owner}/{repo}",
    "/repos/{owner}/{repo}/contributors",
    "/repos/{owner}/{repo}/languages",
    "/repos/{owner}/{repo}/teams",
    "/repos/{owner}/{repo}/tags",
    "/repos/{owner}/{repo}/branches",
    "/repos/{owner}/{repo}/branches/{branch}",
    "/repos/{owner}/{repo}/collaborators",
    "/repos/{owner}/{repo}/collaborators/{user}",
    "/repos/{owner}/{repo}/comments",
    "/repos/{owner}/{repo}/commits/{sha}/comments",
    "/repos/{owner}/{repo}/comments/{id}",
    "/repos/{owner}/{repo}/commits",
    "/repos/{owner}/{repo}/commits/{sha}",
    "/repos/{owner}/{repo}/readme",
    "/repos/{owner}/{repo}/keys",
    "/repos/{owner}/{repo}/keys/{id}",
    "/repos/{owner}/{repo}/downloads",
    "/repos/{owner}/{repo}/downloads/{id}",
    "/repos/{owner}/{repo}/forks",
    "/repos/{owner}/{repo}/hooks",
    "/repos/{owner}/{repo}/hooks/{id}",
    "/repos/{owner}/{repo}/releases",
    "/repos/{owner}/{repo}/releases/{id}",
    "/repos/{owner}/{repo}/releases/{id}/assets",
    "/repos/{owner}/{repo}/stats/contributors",
    "/repos/{owner}/{repo}/stats/commit_activity",
    "/repos/{owner}/{repo}/stats/code_frequency",
    "/repos/{owner}/{repo}/stats/participation",
    "/repos/{owner}/{repo}/stats/punch_card",
    "/repos/{owner}/{repo}/statuses/{ref}",
    "/search/repositories",
    "/search/code",
    "/search/issues",
    "/search/users",
    "/legacy/issues/search/{owner}/{repository}/{state}/{keyword}",
    "/legacy/repos/search/{keyword}",
    "/legacy/user/search/{keyword}",
    "/legacy/user/email/{email}",
    "/users/{user}",
    "/user",
    "/users",
    "/user/emails",
    "/users/{user}/followers",
    "/user/followers",
    "/users/{user}/following",
    "/user/following",
    "/user/following/{user}",
    "/users/{user}/following/{target_user}",
    "/users/{user}/keys",
    "/user/keys",
    "/user/keys/{id}",
];

/// Concrete paths: every route with its parameters filled in.
fn paths() -> Vec<String> {
    ROUTES
        .iter()
        .map(|route| {
            let mut path = String::new();
            let mut rest = *route;
            while let Some(open) = rest.find('{') {
                let close = rest.find('}').expect("closed parameter");
                path.push_str(&rest[..open]);
                path.push_str("value");
                rest = &rest[close + 1..];
            }
            path.push_str(rest);
            path
        })
        .collect()
}

fn lookup(c: &mut Criterion) {
    let paths = paths();
    let mut raw = matchit::Router::new();
    let mut router = Router::new();
    for (i, route) in ROUTES.iter().enumerate() {
        raw.insert(*route, i).expect("valid route");
        router = router.get(route, |_: &Request| StatusCode::OK);
    }
    let router = router.check().expect("no conflicts");

    let mut group = c.benchmark_group("router/github_all_routes");
    group.bench_function("matchit", |b| {
        b.iter(|| {
            for path in &paths {
                let matched = raw.at(black_box(path)).expect("route matches");
                let params: Vec<(String, String)> = matched
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect();
                black_box((matched.value, params));
            }
        });
    });
    // The same work as the matchit line: match, then parameters out (percent-decoded here;
    // values without escapes are read from the parsed target, as the server does).
    let uris: Vec<http::Uri> = paths
        .iter()
        .map(|path| path.parse().expect("valid path"))
        .collect();
    group.bench_function("switchyard_lookup", |b| {
        b.iter(|| {
            for uri in &uris {
                let params = router
                    .resolve_for_bench(&http::Method::GET, black_box(uri))
                    .expect("route matches");
                black_box(params);
            }
        });
    });
    // The whole in-process dispatch: request in, handler called, response out.
    let targets: Vec<&str> = paths.iter().map(String::as_str).collect();
    group.bench_function("switchyard_handle", |b| handle_all(b, &router, &targets));
    group.finish();
}

/// Times `Router::handle` on a GET of each of `targets` (requests built outside the timing).
fn handle_all(b: &mut Bencher<'_>, router: &Router, targets: &[&str]) {
    b.iter_batched_ref(
        || {
            targets
                .iter()
                .map(|target| Request::from(http::Request::get(*target).body(()).expect("request")))
                .collect::<Vec<_>>()
        },
        |requests| {
            for request in requests.drain(..) {
                let response = router.handle(black_box(request));
                assert_eq!(response.status(), StatusCode::OK);
            }
        },
        BatchSize::LargeInput,
    );
}

/// The reference app's shape: five routes, then `extra_routes` more (half with a parameter,
/// as `reference --extra-routes`), then `middleware` no-op middlewares (as
/// `reference --noop-middleware`).
fn app(extra_routes: usize, middleware: usize) -> Router {
    let mut router = Router::new()
        .get("/plaintext", |_: &Request| "Hello, World!")
        .get("/json", |_: &Request| r#"{"message":"Hello, World!"}"#)
        .get("/users/{id}", |req: &Request| {
            format!("user {}", req.param("id").unwrap_or_default())
        })
        .get("/files/{*path}", |req: &Request| {
            format!("file {}", req.param("path").unwrap_or_default())
        })
        .post("/echo", |req: &Request| req.body().to_vec());
    for i in 0..extra_routes {
        let path = match i % 2 {
            0 => format!("/api/v1/resource{i}/{{id}}"),
            _ => format!("/api/v1/resource{i}/items"),
        };
        router = router.get(&path, |_: &Request| "extra");
    }
    for _ in 0..middleware {
        router = router.middleware(|req: &mut Request, next: Next<'_>| next.run(req));
    }
    router.check().expect("no conflicts")
}

fn cost(c: &mut Criterion) {
    const BATCH: usize = 64;
    let mut group = c.benchmark_group("router/cost");
    let cases = [
        ("users_5_routes", app(0, 0), "/users/42"),
        ("users_500_routes", app(495, 0), "/users/42"),
        ("plaintext_no_middleware", app(0, 0), "/plaintext"),
        ("plaintext_3_noop_middleware", app(0, 3), "/plaintext"),
    ];
    for (name, router, path) in cases {
        group.bench_function(name, |b| handle_all(b, &router, &[path; BATCH]));
    }
    group.finish();
}

criterion_group!(benches, lookup, cost);
criterion_main!(benches);
