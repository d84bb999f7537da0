//! Wildcard patterns (`*` any run of characters, optionally `?` one
//! character, the rest literally) compiled to the regex crate's
//! finite automata, so matching is linear in the text whatever the
//! pattern. A backtracking matcher costs O(n*m) on patterns like
//! `*aaaa…b`; a tenant chooses patterns, so that cost is theirs to pick.

/// Which characters are wildcards.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wildcards {
    /// `*` only; `?` is itself.
    Star,
    /// `*` and `?`.
    StarAndQuestion,
}

/// The pattern as an anchored regular expression (dot matches newlines).
pub fn to_regex(pattern: &str, wildcards: Wildcards) -> String {
    let mut out = String::from("(?s)^");
    let mut literal = String::new();
    for c in pattern.chars() {
        let wildcard = match c {
            '*' => Some(".*"),
            '?' if wildcards == Wildcards::StarAndQuestion => Some("."),
            _ => None,
        };
        match wildcard {
            Some(expression) => {
                out.push_str(&regex::escape(&literal));
                literal.clear();
                out.push_str(expression);
            }
            None => literal.push(c),
        }
    }
    out.push_str(&regex::escape(&literal));
    out.push('$');
    out
}

/// One compiled pattern.
#[derive(Debug, Clone)]
pub struct Glob {
    source: String,
    regex: regex::Regex,
}

impl Glob {
    pub fn new(pattern: &str, wildcards: Wildcards) -> Self {
        let regex = regex::RegexBuilder::new(&to_regex(pattern, wildcards))
            .size_limit(16 << 20)
            .build()
            // Escaped literals and `.`/`.*` always compile; a pattern too
            // large for the limit matches nothing rather than failing.
            .unwrap_or_else(|_| regex::Regex::new("[^\\s\\S]").expect("an empty class"));
        Glob {
            source: pattern.to_string(),
            regex,
        }
    }

    pub fn matches(&self, text: &str) -> bool {
        self.regex.is_match(text)
    }
}

impl PartialEq for Glob {
    fn eq(&self, other: &Self) -> bool {
        self.source == other.source
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_as_documented_and_nothing_else() {
        let both = |p: &str, t: &str| Glob::new(p, Wildcards::StarAndQuestion).matches(t);
        let star = |p: &str, t: &str| Glob::new(p, Wildcards::Star).matches(t);
        assert!(both(
            "arn:aws:iam::*:user/break-glass-?",
            "arn:aws:iam::1:user/break-glass-1"
        ));
        assert!(!both(
            "arn:aws:iam::*:user/break-glass-?",
            "arn:aws:iam::1:user/break-glass-12"
        ));
        assert!(both("a*b", "a\nxb"));
        assert!(both("(x)+[y].$", "(x)+[y].$"));
        assert!(!both("(x)+[y].$", "xxy."));
        assert!(both("*é?", "aéü"));
        assert!(!both("ab", "xab"));
        assert!(star("what?", "what?"));
        assert!(!star("what?", "whatx"));
        assert!(star("pay*eu", "payments-eu"));
        assert!(!star("", "x"));
        assert!(star("", ""));
    }

    /// The shape that made a backtracking matcher quadratic still gives
    /// the right answers over 2 KB (the time is `make bench`'s to show).
    #[test]
    fn adversarial_patterns_answer_right() {
        let glob = Glob::new(
            &format!("*{}b", "a".repeat(254)),
            Wildcards::StarAndQuestion,
        );
        assert!(!glob.matches(&"a".repeat(2048)));
        assert!(glob.matches(&format!("{}b", "a".repeat(2048))));
    }
}
