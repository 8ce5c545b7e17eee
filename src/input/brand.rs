//! The `brand:` section of the list file: the newsletter's logo, colours and font, given as
//! data to the compiled-in templates, so a team can make the email its own without Rust.
//!
//! ```yaml
//! brand:
//!   logo: { src: "https://example.org/logo.png", alt: "Example", width: 160 }  # or src: logo.png
//!   colours: { masthead: "#0b2545", accent: "#0b5cad", links: "#0b5cad" }
//!   font: "Georgia, 'Times New Roman', serif"
//! ```
//!
//! Every value is checked strictly (a colour is `#rgb` or `#rrggbb`, a font stack is family
//! names of letters, digits, spaces and `-`), because the values are written into the
//! template's CSS: nothing else can reach it. The layout, the spacing and the text colours
//! are the template's, and change only with a template change and a rebuild.

use std::{fmt, str::FromStr};

use serde::Deserialize;

use crate::input::{images::ImageSource, values::Line};

/// The `brand` section.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Brand {
    /// A logo shown in the masthead, above the newsletter's name.
    #[serde(default)]
    pub(crate) logo: Option<Logo>,
    #[serde(default)]
    pub(crate) colours: Colours,
    /// The font stack of the text; a generic family (`sans-serif`) is added when it ends
    /// without one.
    #[serde(default)]
    pub(crate) font: Option<FontStack>,
}

/// The logo of the masthead.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Logo {
    /// Where the logo is hosted (mail clients fetch it), or a file relative to the list file.
    pub(crate) src: ImageSource,
    /// What the logo says, for readers who do not load images (usually the organisation).
    pub(crate) alt: Line,
    /// Display width in pixels.
    #[serde(default = "default_logo_width")]
    pub(crate) width: LogoWidth,
}

fn default_logo_width() -> LogoWidth {
    LogoWidth(160)
}

/// A logo width between 16 and 520 pixels (the content column).
#[derive(Debug, Clone, Copy)]
pub(crate) struct LogoWidth(pub(crate) u32);

impl<'de> Deserialize<'de> for LogoWidth {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let width = u32::deserialize(deserializer)?;
        if (16..=520).contains(&width) {
            Ok(LogoWidth(width))
        } else {
            Err(serde::de::Error::custom(format!(
                "{width} is not a logo width between 16 and 520 pixels"
            )))
        }
    }
}

/// The brand colours; each has the template's own as its default.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Colours {
    /// The masthead's background, under white text.
    #[serde(default)]
    pub(crate) masthead: Option<Colour>,
    /// The button's background (under white text) and the contact box's edge.
    #[serde(default)]
    pub(crate) accent: Option<Colour>,
    /// Links in the text, on white.
    #[serde(default)]
    pub(crate) links: Option<Colour>,
}

/// The template's colours when the list gives none.
pub(crate) const DEFAULT_MASTHEAD: Colour = Colour([0x0b, 0x25, 0x45]);
pub(crate) const DEFAULT_ACCENT: Colour = Colour([0x0b, 0x5c, 0xad]);
pub(crate) const DEFAULT_LINKS: Colour = Colour([0x0b, 0x5c, 0xad]);
/// The template's text on the masthead and the button, and the background of the text.
pub(crate) const WHITE: Colour = Colour([0xff, 0xff, 0xff]);

/// The template's font stack when the list gives none.
pub(crate) const DEFAULT_FONT: &str = "Helvetica, Arial, sans-serif";

/// An sRGB colour, written `#rgb` or `#rrggbb`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Colour(pub(crate) [u8; 3]);

impl Colour {
    /// Relative luminance (WCAG 2.x).
    fn luminance(self) -> f64 {
        let channel = |value: u8| {
            let c = f64::from(value) / 255.0;
            if c <= 0.039_28 {
                c / 12.92
            } else {
                ((c + 0.055) / 1.055).powf(2.4)
            }
        };
        let [r, g, b] = self.0;
        0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)
    }

    /// The contrast ratio of the two colours (WCAG 2.x), from 1 to 21.
    pub(crate) fn contrast(self, other: Colour) -> f64 {
        let (a, b) = (self.luminance(), other.luminance());
        (a.max(b) + 0.05) / (a.min(b) + 0.05)
    }
}

impl fmt::Display for Colour {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [r, g, b] = self.0;
        write!(f, "#{r:02x}{g:02x}{b:02x}")
    }
}

impl FromStr for Colour {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let invalid = || {
            format!("`{value}` is not a colour; write it as `#rgb` or `#rrggbb`, e.g. `#0b5cad`")
        };
        let hex = value.trim().strip_prefix('#').ok_or_else(invalid)?;
        if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(invalid());
        }
        let digit = |index: usize| u8::from_str_radix(&hex[index..=index], 16).unwrap_or(0);
        match hex.len() {
            3 => Ok(Colour([digit(0) * 17, digit(1) * 17, digit(2) * 17])),
            6 => Ok(Colour([
                digit(0) * 16 + digit(1),
                digit(2) * 16 + digit(3),
                digit(4) * 16 + digit(5),
            ])),
            _ => Err(invalid()),
        }
    }
}

crate::input::values::deserialize_from_str!(Colour);

/// A CSS font stack such as `Georgia, 'Times New Roman', serif`, ending with a generic family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FontStack(String);

/// The generic families of CSS, one of which ends every stack.
const GENERIC_FAMILIES: [&str; 6] = [
    "serif",
    "sans-serif",
    "monospace",
    "system-ui",
    "cursive",
    "fantasy",
];

impl FontStack {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for FontStack {
    type Err = String;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        let mut families = Vec::new();
        for family in value.split(',') {
            let family = family.trim();
            let name = family
                .strip_prefix('\'')
                .and_then(|rest| rest.strip_suffix('\''))
                .unwrap_or(family);
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-');
            if !valid {
                let whole = if family == value.trim() {
                    String::new()
                } else {
                    format!(" in `{value}`")
                };
                return Err(format!(
                    "`{family}`{whole} is not a font family; write family names of letters, digits, spaces and `-`, separated by commas (quote a name with spaces in '…')"
                ));
            }
            if name.contains(' ') {
                families.push(format!("'{name}'"));
            } else {
                families.push(name.to_owned());
            }
        }
        let ends_generic = families
            .last()
            .is_some_and(|last| GENERIC_FAMILIES.contains(&last.to_ascii_lowercase().as_str()));
        if !ends_generic {
            families.push("sans-serif".into());
        }
        Ok(FontStack(families.join(", ")))
    }
}

crate::input::values::deserialize_from_str!(FontStack);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_are_hex_only() {
        assert_eq!("#0B5CAD".parse::<Colour>().unwrap().to_string(), "#0b5cad");
        assert_eq!("#fff".parse::<Colour>().unwrap(), WHITE);
        for bad in [
            "red",
            "#12345",
            "#ggg",
            "0b5cad",
            "#fff; } body { display: none",
            "rgb(0,0,0)",
        ] {
            assert!(bad.parse::<Colour>().is_err(), "{bad}");
        }
    }

    #[test]
    fn contrast_follows_wcag() {
        let black = Colour([0, 0, 0]);
        assert!((black.contrast(WHITE) - 21.0).abs() < 0.01);
        assert!(DEFAULT_ACCENT.contrast(WHITE) > 4.5);
        let light_grey: Colour = "#aaaaaa".parse().unwrap();
        assert!((light_grey.contrast(WHITE) - 2.32).abs() < 0.01);
    }

    #[test]
    fn font_stacks_end_with_a_generic_family_and_hold_nothing_else() {
        assert_eq!(
            "Georgia, 'Times New Roman', serif"
                .parse::<FontStack>()
                .unwrap()
                .as_str(),
            "Georgia, 'Times New Roman', serif"
        );
        assert_eq!(
            "Inter".parse::<FontStack>().unwrap().as_str(),
            "Inter, sans-serif"
        );
        for bad in [
            "Arial; color: red",
            "\"Inter\"",
            "a, , b",
            "x</style>",
            "a{b}",
        ] {
            assert!(bad.parse::<FontStack>().is_err(), "{bad}");
        }
    }
}
