//! The tools, one module per kind of feature they exercise. Their names,
//! arguments and payloads are the conformance suite's fixture's.

pub mod client;
pub mod content;
pub mod notify;
pub mod schema;

/// A 1x1 red PNG.
pub const TEST_IMAGE_PNG_BASE64: &str = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";

/// A minimal WAV file: mono, 8 kHz, 16-bit, one sample.
pub const TEST_AUDIO_WAV_BASE64: &str =
    "UklGRiYAAABXQVZFZm10IBAAAAABAAEAQB8AAAB9AAACABAAZGF0YQIAAAA=";
