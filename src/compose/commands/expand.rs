//! A command's arguments put into its prompt: `$ARGUMENTS` is everything typed after the
//! name, `$1`…`$9` its words split the way a shell would (quotes group, `\` escapes). A
//! prompt without placeholders gets the arguments appended, so they are never dropped.

/// `body` with `args` put in.
pub fn expand(body: &str, args: &str) -> Result<String, String> {
    let args = args.trim();
    let words = split_words(args)?;
    let mut out = String::with_capacity(body.len() + args.len());
    let mut used = false;
    let mut rest = body;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        if let Some(tail) = after.strip_prefix("ARGUMENTS") {
            out.push_str(args);
            used = true;
            rest = tail;
        } else if let Some(digit) = after.chars().next().filter(|c| ('1'..='9').contains(c)) {
            let index = (digit as usize) - ('1' as usize);
            out.push_str(words.get(index).map_or("", String::as_str));
            used = true;
            rest = &after[1..];
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    if !used && !args.is_empty() {
        out = format!("{}\n\n{args}", out.trim_end());
    }
    Ok(out)
}

/// Shell-like words: whitespace separates, `'…'` and `"…"` group, `\` escapes the next
/// character outside single quotes.
pub fn split_words(text: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a `'` in the arguments is not closed".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c) => word.push(c),
                            None => return Err("a `\"` in the arguments is not closed".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a `\"` in the arguments is not closed".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                if let Some(c) = chars.next() {
                    word.push(c);
                }
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use pretty_assertions::assert_eq;

    #[test]
    fn arguments_and_positions() {
        assert_eq!(
            expand("Fix #$1 in $2 ($ARGUMENTS), not $3.", "42 'src/a b.rs'").unwrap(),
            "Fix #42 in src/a b.rs (42 'src/a b.rs'), not ."
        );
    }

    #[test]
    fn a_prompt_without_placeholders_keeps_the_arguments() {
        assert_eq!(
            expand("Review.\n", "focus on errors").unwrap(),
            "Review.\n\nfocus on errors"
        );
        assert_eq!(expand("Review.\n", "").unwrap(), "Review.\n");
    }

    #[test]
    fn dollars_that_are_not_placeholders_stay() {
        assert_eq!(
            expand("cost $5 vs $x $0 $", "").unwrap(),
            "cost  vs $x $0 $"
        );
    }

    #[test]
    fn words_split_like_a_shell() {
        assert_eq!(
            split_words(r#"a "b c" 'd "e"' f\ g "" h"#).unwrap(),
            vec!["a", "b c", r#"d "e""#, "f g", "", "h"]
        );
        assert!(split_words("'open").unwrap_err().contains("not closed"));
        assert!(split_words("\"open").unwrap_err().contains("not closed"));
    }
}
