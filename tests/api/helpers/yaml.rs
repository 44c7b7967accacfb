//! A reader for the block-style YAML the shipped monitoring files are
//! written in: mappings, sequences (`- `), plain, quoted and literal (`|`)
//! scalars, comments. Anything else (flow collections, anchors, tabs,
//! duplicate keys) is an error, which keeps those files in a form every
//! YAML reader agrees on. A test helper only: no YAML crate is in the tree,
//! and the structure checks need no more.

/// A parsed node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Yaml {
    Map(Vec<(String, Yaml)>),
    List(Vec<Yaml>),
    Text(String),
}

impl Yaml {
    /// The value under `key` of a mapping.
    pub fn get(&self, key: &str) -> Option<&Yaml> {
        match self {
            Self::Map(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn text(&self) -> Option<&str> {
        match self {
            Self::Text(text) => Some(text),
            _ => None,
        }
    }

    pub fn keys(&self) -> Vec<&str> {
        match self {
            Self::Map(entries) => entries.iter().map(|(k, _)| k.as_str()).collect(),
            _ => Vec::new(),
        }
    }
}

struct Line<'a> {
    number: usize,
    indent: usize,
    text: &'a str,
}

/// Parses a whole document; the error names the line.
pub fn parse(source: &str) -> Result<Yaml, String> {
    let raw: Vec<&str> = source.lines().collect();
    let mut parser = Parser { raw, at: 0 };
    parser.skip_blank()?;
    let Some(first) = parser.peek()? else {
        return Err("empty document".to_owned());
    };
    if first.indent != 0 {
        return Err(format!("line {}: the document is indented", first.number));
    }
    let node = parser.node(0)?;
    if let Some(extra) = parser.peek()? {
        return Err(format!("line {}: unexpected indentation", extra.number));
    }
    Ok(node)
}

struct Parser<'a> {
    raw: Vec<&'a str>,
    at: usize,
}

impl<'a> Parser<'a> {
    /// Moves past blank and comment lines.
    fn skip_blank(&mut self) -> Result<(), String> {
        while let Some(line) = self.raw.get(self.at) {
            if line.contains('\t') {
                return Err(format!("line {}: a tab", self.at + 1));
            }
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                self.at += 1;
            } else {
                break;
            }
        }
        Ok(())
    }

    fn peek(&mut self) -> Result<Option<Line<'a>>, String> {
        self.skip_blank()?;
        Ok(self.raw.get(self.at).map(|line| {
            let text = line.trim_start();
            Line {
                number: self.at + 1,
                indent: line.len() - text.len(),
                text: text.trim_end(),
            }
        }))
    }

    /// The node whose lines start at `indent`.
    fn node(&mut self, indent: usize) -> Result<Yaml, String> {
        match self.peek()? {
            Some(line) if line.text == "-" || line.text.starts_with("- ") => self.list(indent),
            Some(_) => self.map(indent, None),
            None => Err("a value is missing at the end".to_owned()),
        }
    }

    fn list(&mut self, indent: usize) -> Result<Yaml, String> {
        let mut items = Vec::new();
        while let Some(line) = self.peek()? {
            if line.indent < indent {
                break;
            }
            if line.indent > indent || !(line.text == "-" || line.text.starts_with("- ")) {
                return Err(format!("line {}: expected a list item", line.number));
            }
            let rest = line.text[1..].trim_start();
            if rest.is_empty() {
                self.at += 1;
                items.push(self.deeper(indent)?);
            } else if rest.starts_with("- ") {
                return Err(format!("line {}: nested list on one line", line.number));
            } else if split_key(rest).is_some() {
                // `- key: value` opens a mapping indented past the dash.
                let inner = indent + (line.text.len() - rest.len());
                items.push(self.map(inner, Some(rest))?);
            } else {
                self.at += 1;
                items.push(Yaml::Text(scalar(rest, line.number)?));
            }
        }
        Ok(Yaml::List(items))
    }

    /// A mapping at `indent`; `first` is the rest of a `- ` line that opens it.
    fn map(&mut self, indent: usize, mut first: Option<&'a str>) -> Result<Yaml, String> {
        let mut entries: Vec<(String, Yaml)> = Vec::new();
        loop {
            let (number, text) = if let Some(text) = first.take() {
                (self.at + 1, text)
            } else {
                match self.peek()? {
                    Some(line) if line.indent == indent && !line.text.starts_with("- ") => {
                        (line.number, line.text)
                    }
                    Some(line) if line.indent > indent => {
                        return Err(format!("line {}: unexpected indentation", line.number));
                    }
                    _ => break,
                }
            };
            self.at += 1;
            let (key, value) =
                split_key(text).ok_or_else(|| format!("line {number}: expected `key: value`"))?;
            if entries.iter().any(|(k, _)| k == key) {
                return Err(format!("line {number}: duplicate key {key}"));
            }
            let node = match value {
                "" => self.deeper(indent)?,
                "|" | "|-" => Yaml::Text(self.literal(indent, value == "|")),
                _ => Yaml::Text(scalar(value, number)?),
            };
            entries.push((key.to_owned(), node));
        }
        Ok(Yaml::Map(entries))
    }

    /// The node nested under a line at `indent`: it must be indented more.
    fn deeper(&mut self, indent: usize) -> Result<Yaml, String> {
        match self.peek()? {
            Some(line) if line.indent > indent => self.node(line.indent),
            Some(line) => Err(format!("line {}: expected a nested value", line.number)),
            None => Err("a nested value is missing at the end".to_owned()),
        }
    }

    /// A literal block: the lines indented past `indent`, kept as written
    /// less their common indentation.
    fn literal(&mut self, indent: usize, keep_newline: bool) -> String {
        let mut lines = Vec::new();
        while let Some(line) = self.raw.get(self.at) {
            let text = line.trim_start();
            if !text.is_empty() && line.len() - text.len() <= indent {
                break;
            }
            lines.push(*line);
            self.at += 1;
        }
        while lines.last().is_some_and(|line| line.trim().is_empty()) {
            lines.pop();
        }
        let common = lines
            .iter()
            .filter(|line| !line.trim().is_empty())
            .map(|line| line.len() - line.trim_start().len())
            .min()
            .unwrap_or(0);
        let mut text = lines
            .iter()
            .map(|line| line.get(common..).unwrap_or(""))
            .collect::<Vec<_>>()
            .join("\n");
        if keep_newline {
            text.push('\n');
        }
        text
    }
}

/// `key: value` or `key:`; keys are plain words.
fn split_key(text: &str) -> Option<(&str, &str)> {
    let (key, value) = match text.split_once(": ") {
        Some((key, value)) => (key, value.trim()),
        None => (text.strip_suffix(':')?, ""),
    };
    key.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        .then_some((key, value))
        .filter(|(key, _)| !key.is_empty())
}

/// A scalar on one line: quoted (double, with `\"` and `\\`; or single,
/// with `''`) or plain (a ` #` starts a comment).
fn scalar(text: &str, number: usize) -> Result<String, String> {
    let bad = |what: &str| Err(format!("line {number}: {what}"));
    if let Some(inner) = text.strip_prefix('"') {
        let Some(inner) = inner.strip_suffix('"') else {
            return bad("an unterminated double-quoted string");
        };
        let mut out = String::new();
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some(escaped @ ('"' | '\\')) => out.push(escaped),
                    _ => return bad("an escape other than \\\" or \\\\"),
                },
                '"' => return bad("a bare quote inside a double-quoted string"),
                c => out.push(c),
            }
        }
        return Ok(out);
    }
    if let Some(inner) = text.strip_prefix('\'') {
        let Some(inner) = inner.strip_suffix('\'') else {
            return bad("an unterminated single-quoted string");
        };
        return Ok(inner.replace("''", "'"));
    }
    let plain = text.split(" #").next().unwrap_or_default().trim_end();
    if plain.starts_with(['{', '[', '&', '*', '!', '|', '>', '%', '@', '`']) {
        return bad("a flow collection, anchor, tag or reserved indicator");
    }
    if plain.contains(": ") {
        return bad("`: ` inside a plain scalar");
    }
    Ok(plain.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_subset_parses_and_the_rest_is_refused() {
        let doc = "# c\ngroups:\n  - name: a # note\n    rules:\n      - alert: X\n        expr: |\n          up == 0\n            and 1\n\n        labels:\n          severity: 'it''s'\n  - name: \"b \\\"q\\\"\"\n    rules: []\n";
        let err = parse(doc).expect_err("a flow list is refused");
        assert!(err.contains("line 13"), "{err}");
        let doc = doc.replace("rules: []", "rules:\n      - alert: Y\n        expr: x");
        let parsed = parse(&doc).unwrap_or_else(|e| panic!("{e}"));
        let groups = match parsed.get("groups") {
            Some(Yaml::List(groups)) => groups.clone(),
            other => panic!("{other:?}"),
        };
        assert_eq!(groups[0].get("name").and_then(Yaml::text), Some("a"));
        assert_eq!(groups[1].get("name").and_then(Yaml::text), Some("b \"q\""));
        let Some(Yaml::List(rules)) = groups[0].get("rules") else {
            panic!("rules")
        };
        assert_eq!(
            rules[0].get("expr").and_then(Yaml::text),
            Some("up == 0\n  and 1\n")
        );
        assert_eq!(
            rules[0]
                .get("labels")
                .and_then(|l| l.get("severity"))
                .and_then(Yaml::text),
            Some("it's")
        );
        assert!(parse("a: 1\na: 2\n").is_err(), "duplicate key");
        assert!(parse("a:\n\tb: 1\n").is_err(), "tab");
        assert!(parse("a: b: c\n").is_err(), "colon in a plain scalar");
        assert!(parse("a: 1\n  b: 2\n").is_err(), "stray indentation");
    }
}
