//! Enums named in configs and on the command line: [`name_enum!`](crate::name_enum) and
//! its parse error [`UnknownName`].

use std::fmt;

/// A name that is none of an enum's names: the `FromStr` error of the enums that
/// [`name_enum!`](crate::name_enum) declares, before their crate converts it into its own
/// error type (`From<UnknownName>`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownName {
    /// What the enum names in configs, e.g. `"algo"`.
    pub what: &'static str,
    /// The name given.
    pub value: String,
    /// The names allowed, in order: `"one of: ppo, a2c, reinforce"`.
    pub allowed: &'static str,
}

impl fmt::Display for UnknownName {
    /// ``invalid algo `sac`: one of: ppo, a2c, reinforce``.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid {} `{}`: {}",
            self.what, self.value, self.allowed
        )
    }
}

impl std::error::Error for UnknownName {}

/// Gives a fieldless enum its names in configs: `ALL` (every variant, in the listed order),
/// `name()`, `Display` (the name, padded as `str` is by `{:<8}`) and `FromStr` (the name
/// back; anything else is an [`UnknownName`] converted into the given error type `Err`,
/// which must implement `From<UnknownName>`).
///
/// `name_enum!(Type, "what", Err; Variant => "name", ...);` lists every variant once. The
/// enum itself (with its docs and serde attributes) is written as usual.
///
/// ```
/// use pdmrl_tensor::{UnknownName, name_enum};
///
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Shape {
///     Circle,
///     Square,
/// }
/// name_enum!(Shape, "shape", UnknownName; Circle => "circle", Square => "square");
///
/// assert_eq!(Shape::ALL, [Shape::Circle, Shape::Square]);
/// assert_eq!(Shape::Square.name(), "square");
/// assert_eq!(format!("[{:<7}]", Shape::Circle), "[circle ]");
/// assert_eq!("circle".parse::<Shape>(), Ok(Shape::Circle));
/// let err = "oval".parse::<Shape>().unwrap_err();
/// assert_eq!(err.allowed, "one of: circle, square");
/// assert_eq!(err.to_string(), "invalid shape `oval`: one of: circle, square");
/// ```
#[macro_export]
macro_rules! name_enum {
    ($ty:ident, $what:literal, $err:ty;
     $first:ident => $first_name:literal $(, $variant:ident => $name:literal)* $(,)?) => {
        impl $ty {
            /// Every variant, in the order of its names' list.
            pub const ALL: [$ty; <[&str]>::len(&[$first_name $(, $name)*])] =
                [$ty::$first $(, $ty::$variant)*];

            /// The name used in configs and on the command line.
            pub fn name(self) -> &'static str {
                match self {
                    $ty::$first => $first_name,
                    $($ty::$variant => $name,)*
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.pad(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = $err;
            fn from_str(s: &str) -> ::std::result::Result<Self, Self::Err> {
                match s {
                    $first_name => Ok($ty::$first),
                    $($name => Ok($ty::$variant),)*
                    other => Err(<$err as ::std::convert::From<$crate::UnknownName>>::from(
                        $crate::UnknownName {
                            what: $what,
                            value: ::std::string::ToString::to_string(other),
                            allowed: ::std::concat!("one of: ", $first_name $(, ", ", $name)*),
                        },
                    )),
                }
            }
        }
    };
}
