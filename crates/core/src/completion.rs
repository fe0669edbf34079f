//! Answers to `completion/complete`: the candidate values of an argument,
//! filtered by what the user has typed so far.

use rmcp::model::{CompleteResult, CompletionInfo};

/// The candidates containing `typed` (case-insensitive), prefix matches
/// first, each group in the candidates' order.
pub fn matching(candidates: impl IntoIterator<Item = String>, typed: &str) -> Vec<String> {
    let typed = typed.to_lowercase();
    let (mut prefix, mut rest): (Vec<String>, Vec<String>) = candidates
        .into_iter()
        .filter(|c| c.to_lowercase().contains(&typed))
        .partition(|c| c.to_lowercase().starts_with(&typed));
    prefix.append(&mut rest);
    prefix
}

/// The protocol's answer: at most 100 values, with the total and whether
/// more exist.
pub fn result(mut values: Vec<String>) -> CompleteResult {
    let total = values.len();
    values.truncate(CompletionInfo::MAX_VALUES);
    let has_more = total > values.len();
    let info =
        CompletionInfo::with_pagination(values, Some(total as u32), has_more).unwrap_or_default();
    CompleteResult::new(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_matches_come_first() {
        let got = matching(["base64url", "hex", "base64", "x64"].map(String::from), "b");
        assert_eq!(got, ["base64url", "base64"]);
        let got = matching(["base64", "x64"].map(String::from), "64");
        assert_eq!(got, ["base64", "x64"]);
    }

    #[test]
    fn result_caps_at_100_and_says_more_exist() {
        let values: Vec<String> = (0..150).map(|i| i.to_string()).collect();
        let result = result(values);
        assert_eq!(result.completion.values.len(), 100);
        assert_eq!(result.completion.total, Some(150));
        assert_eq!(result.completion.has_more, Some(true));
    }
}
