//! Vision-model image budgets: THE table prepare_for_model uses, in one
//! place. Figures from the providers' published documentation
//! (shared/reference/vision-budgets.md): Claude scales anything over a
//! 1568 px long edge (or about 1,600 tokens) down and recommends at most
//! about 1.15 megapixels, costing about width x height / 750 tokens;
//! GPT-4o (detail "high") fits the image in 2048x2048, then scales the short
//! side to 768 px, and bills 85 + 170 per 512 px tile; Gemini bills 258
//! tokens for an image with both sides at most 384 px, else 258 per 768 px
//! tile. Newer models of a family may bill differently: these are estimates.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A family of vision models.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize, JsonSchema)]
pub enum ModelFamily {
    /// Anthropic Claude (default).
    #[default]
    #[serde(rename = "claude")]
    Claude,
    /// OpenAI GPT-4o family, detail "high".
    #[serde(rename = "gpt-4o", alias = "gpt4o", alias = "openai")]
    Gpt4o,
    /// Google Gemini.
    #[serde(rename = "gemini")]
    Gemini,
}

/// How one family sees images.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Budget {
    pub family: ModelFamily,
    pub name: &'static str,
    /// Longest edge worth sending; larger images are scaled down.
    pub max_long_edge: u32,
    /// Most pixels worth sending.
    pub max_pixels: u64,
    /// Shortest edge worth keeping after the long-edge fit (GPT-4o's 768).
    pub max_short_edge: Option<u32>,
    /// Images over this on either side are rejected by the provider.
    pub reject_over: Option<u32>,
}

/// The table. Gemini tiles at 768 px with no published ceiling; 1536 px
/// (at most 2x2 tiles, 1032 tokens) keeps detail while bounding the cost.
pub const BUDGETS: [Budget; 3] = [
    Budget {
        family: ModelFamily::Claude,
        name: "claude",
        max_long_edge: 1568,
        max_pixels: 1_150_000,
        max_short_edge: None,
        reject_over: Some(8000),
    },
    Budget {
        family: ModelFamily::Gpt4o,
        name: "gpt-4o",
        max_long_edge: 2048,
        max_pixels: 2048 * 2048,
        max_short_edge: Some(768),
        reject_over: None,
    },
    Budget {
        family: ModelFamily::Gemini,
        name: "gemini",
        max_long_edge: 1536,
        max_pixels: 1536 * 1536,
        max_short_edge: None,
        reject_over: None,
    },
];

impl ModelFamily {
    pub fn budget(self) -> &'static Budget {
        BUDGETS
            .iter()
            .find(|b| b.family == self)
            .unwrap_or(&BUDGETS[0])
    }
}

impl Budget {
    /// The size to send an image of `width` x `height` at: scaled down to
    /// the family's ceiling, aspect ratio kept, never up.
    pub fn target(&self, width: u32, height: u32) -> (u32, u32) {
        let (w, h) = (f64::from(width.max(1)), f64::from(height.max(1)));
        let mut scale = (f64::from(self.max_long_edge) / w.max(h))
            .min((self.max_pixels as f64 / (w * h)).sqrt())
            .min(1.0);
        if let Some(short) = self.max_short_edge {
            scale = scale.min(f64::from(short) / w.min(h));
        }
        (
            ((w * scale).floor() as u32).clamp(1, width.max(1)),
            ((h * scale).floor() as u32).clamp(1, height.max(1)),
        )
    }

    /// Estimated tokens for sending `width` x `height` as is (after the
    /// provider's own downscaling, where it does that).
    pub fn tokens(&self, width: u32, height: u32) -> u64 {
        match self.family {
            ModelFamily::Claude => {
                let (w, h) = self.target(width, height);
                (u64::from(w) * u64::from(h)).div_ceil(750)
            }
            ModelFamily::Gpt4o => {
                let (w, h) = self.target(width, height);
                let tiles = u64::from(w.div_ceil(512)) * u64::from(h.div_ceil(512));
                85 + 170 * tiles
            }
            ModelFamily::Gemini => {
                if width <= 384 && height <= 384 {
                    258
                } else {
                    u64::from(width.div_ceil(768)) * u64::from(height.div_ceil(768)) * 258
                }
            }
        }
    }

    /// Whether the provider refuses an image this large.
    pub fn rejects(&self, width: u32, height: u32) -> bool {
        self.reject_over
            .is_some_and(|limit| width > limit || height > limit)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_entry_per_family() {
        for family in [ModelFamily::Claude, ModelFamily::Gpt4o, ModelFamily::Gemini] {
            assert_eq!(family.budget().family, family);
        }
        assert_eq!(ModelFamily::default(), ModelFamily::Claude);
        let parsed: ModelFamily = serde_json::from_str("\"gpt-4o\"").unwrap();
        assert_eq!(parsed, ModelFamily::Gpt4o);
    }

    #[test]
    fn claude_fits_long_edge_and_megapixels_never_upscales() {
        let claude = ModelFamily::Claude.budget();
        let (w, h) = claude.target(4000, 3000);
        assert!(w <= 1568 && h <= 1568);
        assert!(u64::from(w) * u64::from(h) <= 1_150_000);
        assert!((f64::from(w) / f64::from(h) - 4.0 / 3.0).abs() < 0.01);
        assert_eq!(claude.target(800, 600), (800, 600));
        assert_eq!(claude.target(3136, 100), (1568, 50));
        // 1000x1000: about 1334 tokens, as documented.
        assert_eq!(claude.tokens(1000, 1000), 1334);
        assert!(claude.rejects(9000, 10));
    }

    #[test]
    fn gpt4o_tiles() {
        let gpt = ModelFamily::Gpt4o.budget();
        // 1024x1024 -> 768x768 -> 4 tiles -> 765 tokens (OpenAI's example).
        assert_eq!(gpt.target(1024, 1024), (768, 768));
        assert_eq!(gpt.tokens(1024, 1024), 765);
        // 2048x4096 -> 1024x2048 -> 768x1536 -> 6 tiles -> 1105 tokens.
        assert_eq!(gpt.target(2048, 4096), (768, 1536));
        assert_eq!(gpt.tokens(2048, 4096), 1105);
        assert_eq!(gpt.tokens(100, 100), 255);
    }

    #[test]
    fn gemini_units_and_tiles() {
        let gemini = ModelFamily::Gemini.budget();
        assert_eq!(gemini.tokens(384, 384), 258);
        assert_eq!(gemini.tokens(600, 400), 258);
        assert_eq!(gemini.tokens(1536, 1536), 4 * 258);
        assert_eq!(gemini.target(3072, 1536), (1536, 768));
    }
}
