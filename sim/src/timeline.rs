//! A simulated call played forward in time: every carrier module reads its stage from
//! here and words it in its own protocol.

use std::time::{Duration, Instant};

use crate::util::Magic;

/// Where a simulated call is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    Initiating,
    RingingA,
    AAnswered,
    RingingB,
    /// Bridged, with the carrier seconds talked so far.
    Connected {
        secs: u32,
    },
    /// Over after B answered: `by_a` when A hung up, else B.
    Ended {
        secs: u32,
        by_a: bool,
    },
    /// A leg failed before the bridge.
    Failed {
        leg_b: bool,
        why: Magic,
    },
    /// A hung up while B was still ringing.
    AbandonedByA,
    /// Ended by a hang-up request (before or after the bridge).
    HungUp {
        secs: u32,
        connected: bool,
    },
}

impl Stage {
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Stage::Ended { .. } | Stage::Failed { .. } | Stage::AbandonedByA | Stage::HungUp { .. }
        )
    }
    /// Carrier seconds of talk.
    pub fn secs(self) -> u32 {
        match self {
            Stage::Connected { secs } | Stage::Ended { secs, .. } | Stage::HungUp { secs, .. } => {
                secs
            }
            _ => 0,
        }
    }
}

/// Carrier seconds that one step of talk stands for.
pub const SECS_PER_STEP: u32 = 5;
/// Steps of talk before B hangs up on its own.
pub const TALK_STEPS: u64 = 4;

#[derive(Debug, Clone)]
pub struct Timeline {
    started: Instant,
    step: Duration,
    a: Magic,
    b: Magic,
    /// Steps of talk before the call ends on its own.
    talk_steps: u64,
    hung_up_at: Option<Instant>,
    /// Steps the call is held at (a test control), whatever the clock says.
    held: Option<u64>,
}

impl Timeline {
    pub fn new(step_ms: u64, a: Magic, b: Magic) -> Self {
        Timeline {
            started: Instant::now(),
            step: Duration::from_millis(step_ms),
            a,
            b,
            talk_steps: TALK_STEPS,
            hung_up_at: None,
            held: None,
        }
    }

    /// A call that talks for `steps` steps before B hangs up.
    pub fn with_talk_steps(mut self, steps: u64) -> Self {
        self.talk_steps = steps;
        self
    }

    fn steps_at(&self, t: Instant) -> u64 {
        if let Some(steps) = self.held {
            return steps;
        }
        let elapsed = t.saturating_duration_since(self.started);
        if self.step.is_zero() {
            u64::MAX / 2
        } else {
            (elapsed.as_millis() / self.step.as_millis()) as u64
        }
    }

    fn natural(&self, steps: u64) -> Stage {
        let fail_a = matches!(
            self.a,
            Magic::Busy | Magic::NoAnswer | Magic::Rejected | Magic::Invalid
        );
        let fail_b = matches!(
            self.b,
            Magic::Busy | Magic::NoAnswer | Magic::Rejected | Magic::Invalid
        );
        match steps {
            0 => Stage::Initiating,
            1 => Stage::RingingA,
            _ if fail_a => Stage::Failed {
                leg_b: false,
                why: self.a,
            },
            2 => Stage::AAnswered,
            3 => Stage::RingingB,
            _ if fail_b => Stage::Failed {
                leg_b: true,
                why: self.b,
            },
            s if s < 4 + self.talk_steps => Stage::Connected {
                secs: ((s - 4) as u32) * SECS_PER_STEP,
            },
            _ => Stage::Ended {
                secs: (self.talk_steps as u32) * SECS_PER_STEP,
                by_a: false,
            },
        }
    }

    /// The stage now.
    pub fn stage(&self) -> Stage {
        self.stage_at(Instant::now())
    }

    pub fn stage_at(&self, t: Instant) -> Stage {
        if let Some(h) = self.hung_up_at {
            if h <= t {
                let before = self.natural(self.steps_at(h));
                return match before {
                    s if s.is_final() => s,
                    Stage::Connected { secs } => Stage::HungUp {
                        secs,
                        connected: true,
                    },
                    _ => Stage::HungUp {
                        secs: 0,
                        connected: false,
                    },
                };
            }
        }
        self.natural(self.steps_at(t))
    }

    /// Ends the call now (if it has not ended). Returns whether it was still up.
    pub fn hang_up(&mut self) -> bool {
        if self.stage().is_final() {
            return false;
        }
        self.hung_up_at = Some(Instant::now());
        true
    }

    /// Puts the call at `steps` steps from its start (before or after where it is) and
    /// keeps it there until `release`: a test sees each stage for as long as it needs.
    pub fn hold(&mut self, steps: u64) {
        self.held = Some(steps);
    }

    /// Lets a held call play on from where it was held.
    pub fn release(&mut self) {
        if let Some(steps) = self.held.take() {
            let behind = self.step.saturating_mul(steps as u32);
            self.started = Instant::now().checked_sub(behind).unwrap_or(self.started);
        }
    }

    pub fn is_up(&self) -> bool {
        !self.stage().is_final()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plays_forward() {
        let t = Timeline::new(10, Magic::Normal, Magic::Normal);
        let at = |ms| t.stage_at(t.started + Duration::from_millis(ms));
        assert_eq!(at(0), Stage::Initiating);
        assert_eq!(at(15), Stage::RingingA);
        assert_eq!(at(25), Stage::AAnswered);
        assert_eq!(at(35), Stage::RingingB);
        assert_eq!(at(45), Stage::Connected { secs: 0 });
        assert_eq!(at(55), Stage::Connected { secs: 5 });
        assert!(at(1000).is_final());
        let busy_b = Timeline::new(10, Magic::Normal, Magic::Busy);
        assert_eq!(
            busy_b.stage_at(busy_b.started + Duration::from_millis(45)),
            Stage::Failed {
                leg_b: true,
                why: Magic::Busy
            }
        );
    }

    #[test]
    fn held_and_released() {
        let mut t = Timeline::new(60_000, Magic::Normal, Magic::Normal);
        t.hold(3);
        assert_eq!(t.stage(), Stage::RingingB);
        t.hold(1);
        assert_eq!(t.stage(), Stage::RingingA);
        t.release();
        assert_eq!(t.stage(), Stage::RingingA);
        let mut fast = Timeline::new(10, Magic::Normal, Magic::Normal);
        fast.hold(4);
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(fast.stage(), Stage::Connected { secs: 0 });
        fast.release();
        assert!(fast
            .stage_at(Instant::now() + Duration::from_secs(1))
            .is_final());
    }

    #[test]
    fn instant_mode_and_hangup() {
        let t = Timeline::new(0, Magic::Normal, Magic::Normal);
        assert!(t.stage().is_final());
        let mut t = Timeline::new(60_000, Magic::Normal, Magic::Normal);
        assert!(t.hang_up());
        assert_eq!(
            t.stage(),
            Stage::HungUp {
                secs: 0,
                connected: false
            }
        );
        assert!(!t.hang_up());
    }
}
