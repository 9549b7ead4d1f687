//! Exclusive XML Canonicalization 1.0, without comments (W3C `xml-exc-c14n`, the algorithm
//! `http://www.w3.org/2001/10/xml-exc-c14n#`), of one element's subtree: the bytes an XML-DSig
//! reference digests and a `SignedInfo` is signed over.
//!
//! - Namespace declarations are rendered only where visibly utilised (by the element's own name
//!   or one of its attributes') and not already rendered by an output ancestor with the same
//!   URI; the `InclusiveNamespaces PrefixList` prefixes as inclusive canonicalisation would.
//! - Namespace declarations sorted by prefix (the default first), attributes by namespace URI,
//!   then local name; empty elements as start and end tags; comments dropped.
//! - Text escapes `&`, `<`, `>` and CR; attribute values `&`, `<`, `"`, TAB, LF and CR.
//! - Qualified names as written: the prefix comes from the document's bytes.
//!
//! One node may be left out with its subtree: the `Signature` of an enveloped signature.
//!
//! Bounded: a canonical form longer than [`MAX_CANONICAL_BYTES`] (exclusive canonicalisation
//! repeats declarations on every element that uses them), deeper than the parser allows, or with
//! a prefix bound to nothing, is no canonical form at all (`None`).

use super::xml::{MAX_DEPTH, MAX_MESSAGE_BYTES};
use roxmltree::{Node, NodeId};

/// `#default` in a `PrefixList`: the default namespace.
const DEFAULT_PREFIX_TOKEN: &str = "#default";

/// The longest canonical form made: twice the largest message.
pub const MAX_CANONICAL_BYTES: usize = 2 * MAX_MESSAGE_BYTES;

/// The canonical form of `element`'s subtree (read from the text its document was parsed from).
/// `inclusive_prefixes`: the `InclusiveNamespaces PrefixList` (`#default` for the default
/// namespace); `excluded`: a node left out with its subtree.
pub fn exclusive(element: Node<'_, '_>, inclusive_prefixes: &[&str], excluded: Option<NodeId>) -> Option<String> {
    let mut out = String::new();
    let source = element.document().input_text();
    let mut writer = Writer { source, inclusive_prefixes, excluded, out: &mut out, rendered: Vec::new() };
    writer.element(element, 0)?;
    Some(out)
}

struct Writer<'w, 'd> {
    source: &'d str,
    inclusive_prefixes: &'w [&'w str],
    excluded: Option<NodeId>,
    out: &'w mut String,
    /// The declarations rendered on the open ancestors, innermost last: one stack, pushed and
    /// truncated per element (never copied).
    rendered: Vec<(&'d str, &'d str)>,
}

impl<'d> Writer<'_, 'd> {
    fn element(&mut self, element: Node<'d, '_>, depth: usize) -> Option<()> {
        if Some(element.id()) == self.excluded {
            return Some(());
        }
        if depth > MAX_DEPTH || self.out.len() > MAX_CANONICAL_BYTES {
            return None;
        }
        let qname = element_qname(element, self.source);
        let own_prefix = prefix_of(qname);
        // The prefixes this element visibly utilises, and those the PrefixList adds.
        let mut wanted: Vec<&str> = vec![own_prefix];
        for attribute in element.attributes() {
            let attribute_qname = self.source.get(attribute.range_qname()).unwrap_or("");
            let prefix = prefix_of(attribute_qname);
            if !prefix.is_empty() && prefix != "xml" {
                wanted.push(prefix);
            }
        }
        for token in self.inclusive_prefixes {
            let prefix = if *token == DEFAULT_PREFIX_TOKEN { "" } else { *token };
            if in_scope(element, prefix).is_some() || prefix.is_empty() {
                wanted.push(prefix);
            }
        }
        wanted.sort_unstable();
        wanted.dedup();
        let mut declared: Vec<(&'d str, &'d str)> = Vec::new();
        for prefix in wanted {
            if prefix == "xml" {
                continue;
            }
            let namespace = in_scope(element, prefix);
            let uri = namespace.map_or("", |(_, uri)| uri);
            // A used prefix bound to nothing (the parser refuses `xmlns:p=""`): no canonical form.
            if uri.is_empty() && !prefix.is_empty() && self.inclusive_prefixes.iter().all(|p| *p != prefix) {
                return None;
            }
            let already = self.rendered.iter().rev().find(|(p, _)| *p == prefix).map(|(_, u)| *u);
            let render = match (prefix.is_empty(), already) {
                // The default namespace: rendered when it differs from the output ancestors'
                // (none rendered counts as the empty one).
                (true, already) => already.unwrap_or("") != uri,
                (false, already) => already != Some(uri) && !uri.is_empty(),
            };
            if render {
                declared.push((namespace.map_or("", |(name, _)| name), uri));
            }
        }
        self.out.push('<');
        self.out.push_str(qname);
        for (prefix, uri) in &declared {
            if prefix.is_empty() {
                self.out.push_str(" xmlns=\"");
            } else {
                self.out.push_str(" xmlns:");
                self.out.push_str(prefix);
                self.out.push_str("=\"");
            }
            escape_attribute(uri, self.out);
            self.out.push('"');
        }
        let mut attributes: Vec<_> = element.attributes().collect();
        attributes
            .sort_by(|a, b| (a.namespace().unwrap_or(""), a.name()).cmp(&(b.namespace().unwrap_or(""), b.name())));
        for attribute in attributes {
            self.out.push(' ');
            self.out.push_str(self.source.get(attribute.range_qname()).unwrap_or(attribute.name()));
            self.out.push_str("=\"");
            escape_attribute(attribute.value(), self.out);
            self.out.push('"');
        }
        self.out.push('>');
        let mark = self.rendered.len();
        self.rendered.extend(declared);
        for child in element.children() {
            if child.is_element() {
                self.element(child, depth + 1)?;
            } else if child.is_text() {
                escape_text(child.text().unwrap_or(""), self.out);
            }
        }
        self.rendered.truncate(mark);
        self.out.push_str("</");
        self.out.push_str(qname);
        self.out.push('>');
        (self.out.len() <= MAX_CANONICAL_BYTES).then_some(())
    }
}

/// An element's qualified name as written: after `<`, up to whitespace, `/` or `>`.
fn element_qname<'s>(element: Node<'_, '_>, source: &'s str) -> &'s str {
    let start = element.range().start + 1;
    let rest = source.get(start..).unwrap_or("");
    let end = rest.find(|c: char| c.is_ascii_whitespace() || c == '/' || c == '>').unwrap_or(rest.len());
    &rest[..end]
}

fn prefix_of(qname: &str) -> &str {
    qname.split_once(':').map_or("", |(prefix, _)| prefix)
}

/// The URI `prefix` names at `element` (`""`: the default namespace), if any.
fn in_scope<'a>(element: Node<'a, '_>, prefix: &str) -> Option<(&'a str, &'a str)> {
    element
        .namespaces()
        .find(|ns| ns.name().unwrap_or("") == prefix)
        .filter(|ns| !ns.uri().is_empty())
        .map(|ns| (ns.name().unwrap_or(""), ns.uri()))
}

fn escape_text(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '"' => out.push_str("&quot;"),
            '\t' => out.push_str("&#x9;"),
            '\n' => out.push_str("&#xA;"),
            '\r' => out.push_str("&#xD;"),
            _ => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::xml::parse;
    use super::*;
    use proptest::prelude::*;

    fn canonical(text: &str, path: &[&str], prefixes: &[&str]) -> String {
        let document = parse(text).expect("parses");
        let mut node = document.root_element();
        for name in path {
            node = node.children().find(|c| c.is_element() && c.tag_name().name() == *name).expect(name);
        }
        exclusive(node, prefixes, None).expect("a canonical form")
    }

    #[test]
    fn the_w3c_example_renders_only_the_namespaces_each_element_uses() {
        // xml-exc-c14n §2.2: the apex inherits n0 and n3 in scope but uses only n1.
        let text = "<n0:local xmlns:n0=\"foo:bar\" xmlns:n3=\"ftp://example.org\">\n  <n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"/>\n  </n1:elem2>\n</n0:local>";
        assert_eq!(
            canonical(text, &["elem2"], &[]),
            "<n1:elem2 xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>"
        );
        // The PrefixList renders an in-scope prefix the subtree does not use.
        assert_eq!(
            canonical(text, &["elem2"], &["n0"]),
            "<n1:elem2 xmlns:n0=\"foo:bar\" xmlns:n1=\"http://example.net\" xml:lang=\"en\">\n     <n3:stuff xmlns:n3=\"ftp://example.org\"></n3:stuff>\n  </n1:elem2>"
        );
    }

    #[test]
    fn order_escaping_and_the_default_namespace_follow_the_rules() {
        let text = "<r xmlns=\"urn:d\" xmlns:b=\"urn:b\" xmlns:a=\"urn:a\"><e b:z=\"1\" a:y=\"2\" x=\"&quot;&lt;&#9;&#10;&amp;\" w='&gt;'>a &lt; b &amp;&amp; c &gt; d&#13;</e><n xmlns=\"\"><m/></n></r>";
        assert_eq!(
            canonical(text, &["e"], &[]),
            "<e xmlns=\"urn:d\" xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" w=\">\" x=\"&quot;&lt;&#x9;&#xA;&amp;\" a:y=\"2\" b:z=\"1\">a &lt; b &amp;&amp; c &gt; d&#xD;</e>",
            "namespaces by prefix, default first; unqualified attributes first, then by namespace URI"
        );
        assert_eq!(canonical(text, &["n"], &[]), "<n><m></m></n>", "no default namespace to render or undo");
        assert_eq!(
            canonical(text, &[], &[]),
            "<r xmlns=\"urn:d\"><e xmlns:a=\"urn:a\" xmlns:b=\"urn:b\" w=\">\" x=\"&quot;&lt;&#x9;&#xA;&amp;\" a:y=\"2\" b:z=\"1\">a &lt; b &amp;&amp; c &gt; d&#xD;</e><n xmlns=\"\"><m></m></n></r>",
            "the default undone where an element leaves it; unused b and a not rendered on r"
        );
    }

    #[test]
    fn a_canonical_form_is_bounded() {
        // Exclusive canonicalisation repeats a declaration on every element that uses it.
        let uri = "u".repeat(400);
        let children = "<p:c/>".repeat(2_000);
        let text = format!("<r xmlns:p=\"urn:{uri}\">{children}</r>");
        let document = parse(&text).unwrap();
        assert_eq!(exclusive(document.root_element(), &[], None), None, "about 0.8 MB: refused, not made");
        let small = format!("<r xmlns:p=\"urn:{uri}\">{}</r>", "<p:c/>".repeat(10));
        let document = parse(&small).unwrap();
        assert!(exclusive(document.root_element(), &[], None).is_some());
    }

    #[test]
    fn comments_and_the_excluded_signature_are_left_out() {
        let text = "<a:r xmlns:a=\"urn:a\" xmlns:ds=\"urn:ds\" ID=\"x\"><!-- note --><ds:Signature><ds:V>s</ds:V></ds:Signature><a:b>t</a:b></a:r>";
        let document = parse(text).unwrap();
        let root = document.root_element();
        let signature = root.children().find(|c| c.tag_name().name() == "Signature").unwrap();
        assert_eq!(
            exclusive(root, &[], Some(signature.id())).unwrap(),
            "<a:r xmlns:a=\"urn:a\" ID=\"x\"><a:b>t</a:b></a:r>"
        );
        assert_eq!(
            exclusive(root, &[], None).unwrap(),
            "<a:r xmlns:a=\"urn:a\" ID=\"x\"><ds:Signature xmlns:ds=\"urn:ds\"><ds:V>s</ds:V></ds:Signature><a:b>t</a:b></a:r>"
        );
    }

    /// Generated documents: elements under a few prefixes (some rebinding a URI), attributes,
    /// text with characters that need escaping.
    fn documents() -> impl Strategy<Value = String> {
        let leaf = ("[a-c]", prop::sample::select(vec!["", "p:", "q:"]), "[ -~&&[^<&]]{0,6}").prop_map(
            |(name, prefix, text)| {
                format!(
                    "<{prefix}{name} k=\"{}\">{}</{prefix}{name}>",
                    text.replace('"', "'"),
                    text.replace('>', "&gt;")
                )
            },
        );
        leaf.prop_recursive(4, 24, 4, |inner| {
            (
                prop::sample::select(vec!["", "p:", "q:"]),
                prop::sample::select(vec!["", " xmlns:p=\"urn:p2\"", " xmlns=\"urn:d\"", " xmlns=\"\""]),
                prop::collection::vec(inner, 0..4),
            )
                .prop_map(|(prefix, declaration, children)| {
                    format!("<{prefix}e{declaration} q:a=\"1\">{}</{prefix}e>", children.concat())
                })
        })
        .prop_map(|body| format!("<root xmlns:p=\"urn:p\" xmlns:q=\"urn:q\">{body}</root>"))
    }

    proptest! {
        #[test]
        fn the_canonical_form_is_a_fixed_point_and_means_the_same_document(text in documents()) {
            let Ok(document) = parse(&text) else { return Ok(()) };
            let once = exclusive(document.root_element(), &[], None).expect("a canonical form");
            let reparsed = parse(&once).expect("the canonical form is XML");
            prop_assert_eq!(exclusive(reparsed.root_element(), &[], None), Some(once.clone()), "canonicalising twice changes nothing");
            // The same elements, in the same namespaces, with the same attributes and text.
            let shape = |document: &roxmltree::Document<'_>| -> Vec<String> {
                document.descendants().filter(|n| n.is_element() || n.is_text()).map(|n| {
                    let attributes: Vec<String> = n.attributes().map(|a| format!("{:?}{}={}", a.namespace(), a.name(), a.value())).collect();
                    // Under `xmlns=""` roxmltree says `Some("")`: no namespace either way.
                    let namespace = n.tag_name().namespace().filter(|uri| !uri.is_empty());
                    format!("{:?}{}{:?}{:?}", namespace, n.tag_name().name(), attributes, n.text())
                }).collect()
            };
            prop_assert_eq!(shape(&document), shape(&reparsed));
        }
    }
}
