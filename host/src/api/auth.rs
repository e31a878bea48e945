//! Bearer keys. The configuration holds only their sha256 digests; a
//! presented key is hashed and looked up, so no key is ever stored, compared
//! in the clear or logged. `/v1` takes API keys, `/admin` takes admin keys:
//! a valid key of the other kind is 403, no key or an unknown one is 401.
//! A key comes as `Authorization: Bearer <key>` or as `x-api-key`.

use std::collections::HashSet;
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::IntoResponse;
use axum::response::Response;
use sha2::{Digest, Sha256};

use crate::api::Api;
use crate::api::error::ApiError;

type Digest32 = [u8; 32];

/// Which part of the API a key opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    Api,
    Admin,
}

#[derive(Default)]
pub struct Keys {
    api: HashSet<Digest32>,
    admin: HashSet<Digest32>,
}

fn digest(key: &str) -> Digest32 {
    Sha256::digest(key.trim().as_bytes()).into()
}

/// The digest the configuration stores for `key` (lowercase hex).
pub fn hash_key(key: &str) -> String {
    hex::encode(digest(key))
}

impl Keys {
    /// From configured digests and keys given in the clear (from the
    /// environment), which are hashed at once.
    pub fn new(
        api_digests: &[String],
        admin_digests: &[String],
        api_plain: &[String],
        admin_plain: &[String],
    ) -> Result<Keys, String> {
        let parse =
            |setting: &str, digests: &[String]| -> Result<HashSet<Digest32>, String> {
                digests
                    .iter()
                    .map(|d| {
                        let bytes = hex::decode(d.trim()).ok().filter(|b| b.len() == 32);
                        bytes.map(|b| b.try_into().expect("32 bytes")).ok_or_else(|| {
                        format!(
                            "server.{setting}: {:?} is not a sha256 digest (64 hex digits); \
                             store the digest, never the key: `sluice key new` prints both",
                            d.chars().take(6).collect::<String>() + "…"
                        )
                    })
                    })
                    .collect()
            };
        let mut keys = Keys {
            api: parse("api_keys", api_digests)?,
            admin: parse("admin_keys", admin_digests)?,
        };
        for (set, plain) in [(&mut keys.api, api_plain), (&mut keys.admin, admin_plain)] {
            set.extend(plain.iter().map(|k| digest(k)));
        }
        Ok(keys)
    }

    pub fn is_empty(&self) -> bool {
        self.api.is_empty()
    }

    /// Whether the request's bearer key opens `scope`.
    pub fn check(&self, headers: &HeaderMap, scope: Scope) -> Result<(), ApiError> {
        let presented = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            // Anthropic's clients send `x-api-key`.
            .or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()))
            .map(str::trim)
            .filter(|k| !k.is_empty());
        let Some(key) = presented else {
            return Err(ApiError::unauthorized(
                "no API key: send it as the header `Authorization: Bearer <key>` (or `x-api-key: <key>`)",
            ));
        };
        let presented = digest(key);
        let (wanted, other) = match scope {
            Scope::Api => (&self.api, &self.admin),
            Scope::Admin => (&self.admin, &self.api),
        };
        if wanted.contains(&presented) {
            Ok(())
        } else if other.contains(&presented) {
            Err(ApiError::forbidden(match scope {
                Scope::Api => "this is an admin key; /v1 takes an API key (server.api_keys)",
                Scope::Admin => {
                    "this key may not use the admin API; use an admin key (server.admin_keys)"
                }
            }))
        } else {
            Err(ApiError::unauthorized(
                "the API key is not valid: check the key, or add its sha256 to the server's configuration",
            ))
        }
    }
}

/// Let the request through if its key opens the scope (the router gives
/// each part of the API its own).
pub async fn require(
    State((api, scope)): State<(Arc<Api>, Scope)>,
    request: Request,
    next: Next,
) -> Response {
    match api.keys.check(request.headers(), scope) {
        Ok(()) => next.run(request).await,
        Err(error) => refuse(request, error, api.settings.max_body_kib << 10).await,
    }
}

/// Answer `error` without running the request, leaving a keep-alive
/// connection usable: the body the client sent is read first (up to `cap`
/// bytes), so the connection is clean for its next request; a larger body
/// is not read, and the answer says `Connection: close`.
pub async fn refuse(request: Request, error: ApiError, cap: usize) -> Response {
    let drained = axum::body::to_bytes(request.into_body(), cap).await.is_ok();
    let mut response = error.into_response();
    if !drained {
        response
            .headers_mut()
            .insert(header::CONNECTION, HeaderValue::from_static("close"));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bearer(key: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::AUTHORIZATION,
            format!("Bearer {key}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn keys_open_their_own_scope_only() {
        let keys = Keys::new(&[hash_key("user-key")], &[], &[], &["admin-key".into()]).unwrap();
        let status = |key: &str, scope| {
            keys.check(&bearer(key), scope)
                .map_err(|e| e.status.as_u16())
        };
        assert_eq!(status("user-key", Scope::Api), Ok(()));
        assert_eq!(status("admin-key", Scope::Admin), Ok(()));
        assert_eq!(status("user-key", Scope::Admin), Err(403));
        assert_eq!(status("admin-key", Scope::Api), Err(403));
        assert_eq!(status("wrong", Scope::Api), Err(401));
        assert_eq!(
            keys.check(&HeaderMap::new(), Scope::Api)
                .unwrap_err()
                .status
                .as_u16(),
            401
        );
    }

    #[test]
    fn a_plain_key_in_the_configuration_is_refused_without_echoing_it() {
        let error = Keys::new(&["sk-live-secret-value".into()], &[], &[], &[])
            .err()
            .unwrap();
        assert!(error.contains("not a sha256 digest"), "{error}");
        assert!(!error.contains("secret-value"), "{error}");
    }
}
