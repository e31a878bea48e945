//! A circuit breaker for the cloud: after `failures` failed requests in a
//! row it opens, and for `cooldown` every request is refused at once (the
//! pipeline answers locally instead of waiting on a cloud that is down).
//! Then one probe is let through: its success closes the circuit, its
//! failure opens it again.

use std::sync::Mutex;
use std::time::{Duration, Instant};

#[derive(Clone, Debug, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BreakerSettings {
    /// Consecutive failed requests that open the circuit.
    pub failures: u32,
    #[serde(rename = "cooldown_ms", deserialize_with = "crate::millis")]
    pub cooldown: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        BreakerSettings {
            failures: 5,
            cooldown: Duration::from_secs(30),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Closed {
        failures: u32,
    },
    Open {
        until: Instant,
    },
    /// One probe is out; everything else is refused until it returns.
    HalfOpen,
}

/// The breaker's state as reported (`/admin/stats`, metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Circuit {
    Closed,
    Open,
    HalfOpen,
}

pub struct Breaker {
    settings: BreakerSettings,
    state: Mutex<State>,
}

/// The circuit is open: how long until the next probe.
#[derive(Debug, Clone, Copy)]
pub struct Open(pub Duration);

impl Breaker {
    pub fn new(settings: BreakerSettings) -> Breaker {
        Breaker {
            settings,
            state: Mutex::new(State::Closed { failures: 0 }),
        }
    }

    /// May a request go now?
    pub fn admit(&self) -> Result<(), Open> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match *state {
            State::Closed { .. } => Ok(()),
            State::Open { until } => {
                let now = Instant::now();
                if now >= until {
                    *state = State::HalfOpen;
                    Ok(())
                } else {
                    Err(Open(until - now))
                }
            }
            State::HalfOpen => Err(Open(Duration::ZERO)),
        }
    }

    pub fn success(&self) {
        *self.state.lock().unwrap_or_else(|p| p.into_inner()) = State::Closed { failures: 0 };
    }

    pub fn failure(&self) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let open = State::Open {
            until: Instant::now() + self.settings.cooldown,
        };
        *state = match *state {
            State::Closed { failures } if failures + 1 >= self.settings.failures => {
                tracing::warn!(
                    "cloud circuit open for {:?} after {} failures in a row",
                    self.settings.cooldown,
                    failures + 1
                );
                open
            }
            State::Closed { failures } => State::Closed {
                failures: failures + 1,
            },
            State::HalfOpen | State::Open { .. } => open,
        };
    }

    pub fn circuit(&self) -> Circuit {
        match *self.state.lock().unwrap_or_else(|p| p.into_inner()) {
            State::Closed { .. } => Circuit::Closed,
            State::Open { .. } => Circuit::Open,
            State::HalfOpen => Circuit::HalfOpen,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_after_failures_in_a_row_and_probes_after_the_cooldown() {
        let breaker = Breaker::new(BreakerSettings {
            failures: 3,
            cooldown: Duration::from_millis(30),
        });
        breaker.failure();
        breaker.failure();
        breaker.success();
        breaker.failure();
        breaker.failure();
        assert!(breaker.admit().is_ok(), "a success resets the count");
        breaker.failure();
        assert_eq!(breaker.circuit(), Circuit::Open);
        assert!(breaker.admit().is_err());
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit().is_ok(), "one probe after the cooldown");
        assert!(breaker.admit().is_err(), "only one");
        breaker.failure();
        assert_eq!(breaker.circuit(), Circuit::Open);
        std::thread::sleep(Duration::from_millis(40));
        assert!(breaker.admit().is_ok());
        breaker.success();
        assert_eq!(breaker.circuit(), Circuit::Closed);
        assert!(breaker.admit().is_ok() && breaker.admit().is_ok());
    }
}
