//! Prompts (proofread, summarize, explain-diff) and completions for their
//! arguments and for the names of tokenizers, encodings, hash algorithms,
//! operations and files.
//!
//! A prompt's arguments come from the JSON schema of its parameter struct
//! (rmcp's `#[prompt]`); completions are answered by [`complete`], which the
//! server's `ServerHandler::complete` calls.

use mcp_servers_core::completion;
use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{
    CompleteRequestParams, CompleteResult, GetPromptResult, PromptMessage, Reference, Role,
};
use rmcp::{ErrorData, prompt, prompt_router};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::TextServer;
use crate::tools::diff::unified;
use crate::tools::encode::{ENCODINGS, HASHES};
use crate::tools::transform::OPERATIONS;
use crate::{resources, tokenize};

pub const STYLES: [&str; 6] = [
    "neutral",
    "formal",
    "casual",
    "academic",
    "technical",
    "plain",
];
pub const LENGTHS: [&str; 3] = ["short", "medium", "long"];
pub const SUMMARY_FORMATS: [&str; 3] = ["paragraph", "bullets", "tldr"];
pub const AUDIENCES: [&str; 3] = ["developer", "reviewer", "non-technical"];
pub const LANGUAGES: [&str; 8] = [
    "American English",
    "British English",
    "Deutsch",
    "Español",
    "Français",
    "Italiano",
    "Português",
    "日本語",
];

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ProofreadArgs {
    /// The text to proofread.
    pub text: String,
    /// Register to aim for: neutral (default), formal, casual, academic,
    /// technical or plain.
    #[serde(default)]
    pub style: Option<String>,
    /// Language or variety to follow, e.g. "British English".
    #[serde(default)]
    pub language: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct SummarizeArgs {
    /// The text to summarize.
    pub text: String,
    /// short (one or two sentences), medium (default, a paragraph) or long.
    #[serde(default)]
    pub length: Option<String>,
    /// paragraph (default), bullets or tldr.
    #[serde(default)]
    pub format: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
pub struct ExplainDiffArgs {
    /// A unified diff to explain (or give `before` and `after`).
    #[serde(default)]
    pub diff: Option<String>,
    /// The old text; the server computes the diff.
    #[serde(default)]
    pub before: Option<String>,
    /// The new text.
    #[serde(default)]
    pub after: Option<String>,
    /// Who the explanation is for: developer (default), reviewer or
    /// non-technical.
    #[serde(default)]
    pub audience: Option<String>,
}

fn check(name: &str, value: Option<&str>, allowed: &[&str]) -> Result<(), ErrorData> {
    match value {
        Some(v) if !allowed.contains(&v) => Err(ErrorData::invalid_params(
            format!("unknown {name} '{v}'; use {}", allowed.join(", ")),
            None,
        )),
        _ => Ok(()),
    }
}

#[prompt_router(vis = "pub(crate)")]
impl TextServer {
    /// Proofread a text: fix spelling, grammar and punctuation, keep the meaning.
    #[prompt(
        name = "proofread",
        title = "Proofread",
        description = "Fix spelling, grammar and punctuation in a text without changing its meaning; lists what changed."
    )]
    pub async fn proofread(
        &self,
        Parameters(args): Parameters<ProofreadArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        check("style", args.style.as_deref(), &STYLES)?;
        let style = args.style.as_deref().unwrap_or("neutral");
        let language = args
            .language
            .map(|l| format!(" Follow the conventions of {l}."))
            .unwrap_or_default();
        let instructions = format!(
            "Proofread the text below. Fix spelling, grammar, punctuation and clear \
             awkwardness; keep the meaning, the voice and the formatting (Markdown, line \
             breaks). Aim for a {style} register.{language} Reply with the corrected text \
             first, then a short list of the changes you made and why. If nothing needs \
             changing, say so."
        );
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("{instructions}\n\n<text>\n{}\n</text>", args.text),
        )])
        .with_description(format!("Proofread ({style})")))
    }

    /// Summarize a text.
    #[prompt(
        name = "summarize",
        title = "Summarize",
        description = "Summarize a text at a chosen length (short, medium, long) and format (paragraph, bullets, tldr)."
    )]
    pub async fn summarize(
        &self,
        Parameters(args): Parameters<SummarizeArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        check("length", args.length.as_deref(), &LENGTHS)?;
        check("format", args.format.as_deref(), &SUMMARY_FORMATS)?;
        let length = match args.length.as_deref().unwrap_or("medium") {
            "short" => "one or two sentences",
            "long" => "several paragraphs covering every main point",
            _ => "one paragraph",
        };
        let format = match args.format.as_deref().unwrap_or("paragraph") {
            "bullets" => "as a bulleted list",
            "tldr" => "as a single line starting with \"TL;DR:\"",
            _ => "as prose",
        };
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Summarize the text below in {length}, {format}. Keep names, numbers and \
                 conclusions exact; add nothing that is not in the text.\n\n<text>\n{}\n</text>",
                args.text
            ),
        )])
        .with_description("Summarize"))
    }

    /// Explain a diff.
    #[prompt(
        name = "explain-diff",
        title = "Explain a diff",
        description = "Explain what a change does and why it might matter: give a unified `diff`, or `before` and `after` texts and the server computes the diff."
    )]
    pub async fn explain_diff(
        &self,
        Parameters(args): Parameters<ExplainDiffArgs>,
    ) -> Result<GetPromptResult, ErrorData> {
        check("audience", args.audience.as_deref(), &AUDIENCES)?;
        let diff = match (args.diff, args.before, args.after) {
            (Some(diff), None, None) => diff,
            (None, Some(before), Some(after)) => {
                let d = unified(&before, &after, "before", "after", 3);
                if d.is_empty() {
                    "(no differences: the two texts are identical)".to_owned()
                } else {
                    d
                }
            }
            _ => {
                return Err(ErrorData::invalid_params(
                    "give either `diff`, or both `before` and `after`",
                    None,
                ));
            }
        };
        let audience = args.audience.as_deref().unwrap_or("developer");
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!(
                "Explain the change in this unified diff for a {audience} reader: what it \
                 does, why it was probably made, and anything risky or surprising. Start with \
                 a one-sentence summary.\n\n```diff\n{diff}```"
            ),
        )])
        .with_description("Explain a diff"))
    }
}

/// Values for the argument being completed, filtered by what was typed
/// (prefix first, then substring, case-insensitive), at most 100.
pub fn complete(server: &TextServer, request: &CompleteRequestParams) -> CompleteResult {
    let arg = request.argument.name.as_str();
    let typed = request.argument.value.as_str();
    let candidates: Vec<String> = match &request.r#ref {
        Reference::Prompt(p) => {
            let list: &[&str] = match (p.name.as_str(), arg) {
                ("proofread", "style") => &STYLES,
                ("proofread", "language") => &LANGUAGES,
                ("summarize", "length") => &LENGTHS,
                ("summarize", "format") => &SUMMARY_FORMATS,
                ("explain-diff", "audience") => &AUDIENCES,
                _ => &[],
            };
            list.iter().map(|s| (*s).to_owned()).collect()
        }
        Reference::Resource(r) => match (r.uri.as_str(), arg) {
            (resources::TOKENIZER_TEMPLATE, "name") => {
                tokenize::names().into_iter().map(str::to_owned).collect()
            }
            (resources::ENCODING_TEMPLATE, "name") => {
                ENCODINGS.iter().map(|(n, _)| (*n).to_owned()).collect()
            }
            (resources::HASH_TEMPLATE, "name") => {
                HASHES.iter().map(|(n, _)| (*n).to_owned()).collect()
            }
            (resources::OPERATION_TEMPLATE, "name") => {
                OPERATIONS.iter().map(|(n, _)| (*n).to_owned()).collect()
            }
            (resources::FILE_TEMPLATE, "path") => {
                return completion::result(resources::complete_path(server, typed));
            }
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    completion::result(completion::matching(candidates, typed))
}
