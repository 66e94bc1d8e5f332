//! Configs checked once, as linfa's `ParamGuard`: [`Check::check`] consumes a config and
//! returns it wrapped in [`Valid`], which only a passing check creates. Constructors that
//! take a `Valid<…>` ([`crate::Agent::from_checked`], [`crate::ActorCritic::new`], …)
//! never check again, and a caller that checked (the runner, before any work starts)
//! passes the checked value on.

use std::ops::Deref;

/// A config that can be checked ([`crate::AgentConfig`], [`crate::TrainerConfig`],
/// [`crate::AgentSpec`]; the runner's run config).
pub trait Check: Sized {
    /// What a failed check returns.
    type Error;

    /// Checks every option without consuming the config.
    ///
    /// # Errors
    /// The first offending option, named.
    fn check_ref(&self) -> Result<(), Self::Error>;

    /// Checks every option and returns the config as [`Valid`].
    ///
    /// # Errors
    /// As [`Check::check_ref`].
    fn check(self) -> Result<Valid<Self>, Self::Error> {
        self.check_ref()?;
        Ok(Valid(self))
    }
}

/// A config that passed [`Check::check`]. Read it through `Deref`; it cannot be built
/// or changed otherwise (take it apart with [`Valid::into_inner`] and check again).
#[derive(Debug, Clone, PartialEq)]
pub struct Valid<T>(T);

impl<T> Valid<T> {
    /// The config.
    pub fn into_inner(self) -> T {
        self.0
    }

    /// Wraps a part of a value this crate checked as a whole ([`crate::AgentSpec`]).
    pub(crate) fn from_checked_part(value: T) -> Self {
        Valid(value)
    }
}

impl<T> Deref for Valid<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T> AsRef<T> for Valid<T> {
    fn as_ref(&self) -> &T {
        &self.0
    }
}
