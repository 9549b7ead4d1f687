//! The one XML parser of SAML messages. Strict: no DTD (so no entities but XML's own), no
//! processing instructions, no comment inside an element that holds text (the comment trick
//! that splits `admin@corp.example<!---->.evil.example` into two text nodes), and no two
//! elements with the same ID (XML signature wrapping points a reference at one and leaves the
//! reader the other). Bounded: bytes, nodes and depth. Byte positions are kept, so that
//! canonicalisation renders qualified names as they were written.
//!
//! The element a signature covers and the element that is read are nodes of this one tree:
//! nothing is ever parsed twice, by two parsers that could disagree.

use roxmltree::{Document, Node, ParsingOptions};
use std::collections::HashSet;

/// The most bytes of a message read (a SAML response is a few KiB; metadata a few dozen).
pub const MAX_MESSAGE_BYTES: usize = 256 * 1024;

/// The most nodes of a message.
pub const MAX_NODES: u32 = 20_000;

/// The deepest element nesting (a SAML response nests about 8 deep).
pub const MAX_DEPTH: usize = 48;

/// The most namespace declarations in a message, counted in its bytes before parsing: the
/// parser's namespace resolution costs the square of the declarations in scope per declaring
/// element (real messages have a handful).
pub const MAX_NAMESPACE_DECLARATIONS: usize = 256;

/// The most `=` in a message, counted before parsing: bounds the attributes, whose duplicate
/// check costs the square of an element's attributes.
pub const MAX_EQUALS_SIGNS: usize = 16_384;

/// The longest namespace URI.
pub const MAX_NAMESPACE_URI_BYTES: usize = 512;

/// The most attributes on one element, namespace declarations included (the parser compares
/// each pair of an element's attributes; SAML's elements have a handful).
pub const MAX_ATTRIBUTES_PER_ELEMENT: usize = 64;

/// The longest qualified name: the parser keeps a name's length in 16 bits, so a longer one
/// would be rendered short by canonicalisation.
pub const MAX_QNAME_BYTES: usize = 1024;

/// Why a message was refused, before anything in it was looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum XmlRefusal {
    /// More than [`MAX_MESSAGE_BYTES`].
    TooLarge,
    /// Not well-formed XML (or more than [`MAX_NODES`] nodes).
    Malformed,
    /// A document type declaration, which could declare entities.
    Doctype,
    /// A processing instruction.
    ProcessingInstruction,
    /// A comment inside an element that holds text.
    CommentInText,
    /// Two elements with the same `ID` (or `Id`, `id`).
    DuplicateId,
    /// Nested deeper than [`MAX_DEPTH`], or more declarations or attributes than the bounds.
    TooDeep,
    /// A prefix declared with an empty URI (`xmlns:p=""`, which XML 1.0 namespaces forbid: an
    /// element under it would canonicalise as if it were in the namespace its prefix had above),
    /// or a namespace URI longer than [`MAX_NAMESPACE_URI_BYTES`].
    BadNamespace,
}

impl XmlRefusal {
    /// The stable reason, for the audit and the error page.
    pub fn reason(self) -> &'static str {
        match self {
            XmlRefusal::TooLarge => "xml_too_large",
            XmlRefusal::Malformed => "xml_malformed",
            XmlRefusal::Doctype => "xml_doctype",
            XmlRefusal::ProcessingInstruction => "xml_processing_instruction",
            XmlRefusal::CommentInText => "xml_comment_in_text",
            XmlRefusal::DuplicateId => "xml_duplicate_id",
            XmlRefusal::TooDeep => "xml_too_deep",
            XmlRefusal::BadNamespace => "xml_bad_namespace",
        }
    }
}

/// The attribute names that identify an element to a signature's `Reference URI="#..."`:
/// SAML's `ID`, XML-DSig's `Id`, and `id`. None is namespaced.
const ID_ATTRIBUTES: [&str; 3] = ["ID", "Id", "id"];

/// Parses a message strictly.
pub fn parse(text: &str) -> Result<Document<'_>, XmlRefusal> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(XmlRefusal::TooLarge);
    }
    // roxmltree accepts an empty `<!DOCTYPE x>` even with DTDs off: none is taken, anywhere.
    if text.contains("<!DOCTYPE") {
        return Err(XmlRefusal::Doctype);
    }
    // Bounded before the parser's work, which grows faster than the bytes.
    if text.matches("xmlns").count() > MAX_NAMESPACE_DECLARATIONS || text.matches('=').count() > MAX_EQUALS_SIGNS {
        return Err(XmlRefusal::TooDeep);
    }
    pre_scan(text)?;
    let options = ParsingOptions { allow_dtd: false, nodes_limit: MAX_NODES, ..ParsingOptions::default() };
    let document = Document::parse_with_options(text, options).map_err(|error| match error {
        roxmltree::Error::DtdDetected => XmlRefusal::Doctype,
        _ => XmlRefusal::Malformed,
    })?;
    let mut ids: HashSet<&str> = HashSet::new();
    for node in document.root().descendants() {
        if node.is_pi() {
            return Err(XmlRefusal::ProcessingInstruction);
        }
        if !node.is_element() {
            continue;
        }
        if node.ancestors().count() > MAX_DEPTH {
            return Err(XmlRefusal::TooDeep);
        }
        if node.children().any(|child| child.is_comment()) && holds_text(node) {
            return Err(XmlRefusal::CommentInText);
        }
        let bad_namespace = |ns: &roxmltree::Namespace<'_>| {
            (ns.name().is_some() && ns.uri().is_empty()) || ns.uri().len() > MAX_NAMESPACE_URI_BYTES
        };
        if node.namespaces().any(bad_namespace) {
            return Err(XmlRefusal::BadNamespace);
        }
        // The pre-scan bounded every name in a tag; this holds whatever it missed.
        if node.tag_name().name().len() >= MAX_QNAME_BYTES {
            return Err(XmlRefusal::TooDeep);
        }
        for attribute in node.attributes() {
            if attribute.range_qname().len() >= MAX_QNAME_BYTES || attribute.name().len() >= MAX_QNAME_BYTES {
                return Err(XmlRefusal::TooDeep);
            }
        }
        for attribute in node.attributes().filter(|a| a.namespace().is_none()) {
            if ID_ATTRIBUTES.contains(&attribute.name()) && !ids.insert(attribute.value()) {
                return Err(XmlRefusal::DuplicateId);
            }
        }
    }
    Ok(document)
}

/// Bounds, before parsing, what the parser's work grows with the square of: the attributes of one
/// tag (its duplicate check compares each pair, namespace URIs included), the length of each
/// namespace declaration's value, and of each name. This is a lexer of XML's outer syntax:
/// comments, CDATA sections and processing instructions are skipped whole, and inside a tag
/// quotes are tracked as the grammar has them (a value cannot hold its own delimiter), so every
/// `=` of an attribute is counted on the tag it belongs to. Where the text is not XML the lexer
/// may count wrongly; the parser then refuses it at or before that point.
fn pre_scan(text: &str) -> Result<(), XmlRefusal> {
    let bytes = text.as_bytes();
    let skip_to = |from: usize, end: &str| text[from..].find(end).map(|at| from + at + end.len());
    let mut at = 0;
    while let Some(offset) = text[at..].find('<') {
        let start = at + offset;
        let rest = &text[start..];
        let next = if rest.starts_with("<!--") {
            skip_to(start + 4, "-->")
        } else if rest.starts_with("<![CDATA[") {
            skip_to(start + 9, "]]>")
        } else if rest.starts_with("<?") {
            skip_to(start + 2, "?>")
        } else {
            Some(scan_tag(bytes, start + 1)?)
        };
        match next {
            Some(next) => at = next,
            None => return Ok(()),
        }
    }
    Ok(())
}

/// Scans one tag from just after its `<` to just after its `>` (or the end): see [`pre_scan`].
fn scan_tag(bytes: &[u8], from: usize) -> Result<usize, XmlRefusal> {
    let mut quote: Option<u8> = None;
    let mut value_start = 0;
    let mut token_start: Option<usize> = None;
    let mut last_token: &[u8] = b"";
    let mut equals = 0;
    let mut namespace_value = false;
    let mut i = from;
    while i < bytes.len() {
        let byte = bytes[i];
        match quote {
            Some(delimiter) if byte == delimiter => {
                if namespace_value && i - value_start > MAX_NAMESPACE_URI_BYTES {
                    return Err(XmlRefusal::BadNamespace);
                }
                quote = None;
                namespace_value = false;
            }
            Some(_) => {}
            None => {
                let ends_token = matches!(byte, b' ' | b'\t' | b'\r' | b'\n' | b'=' | b'>' | b'/' | b'"' | b'\'');
                if ends_token {
                    if let Some(token) = token_start.take() {
                        last_token = &bytes[token..i];
                        if last_token.len() >= MAX_QNAME_BYTES {
                            return Err(XmlRefusal::TooDeep);
                        }
                    }
                }
                match byte {
                    b'"' | b'\'' => {
                        quote = Some(byte);
                        value_start = i + 1;
                    }
                    b'=' => {
                        equals += 1;
                        if equals > MAX_ATTRIBUTES_PER_ELEMENT {
                            return Err(XmlRefusal::TooDeep);
                        }
                        namespace_value = last_token == b"xmlns" || last_token.starts_with(b"xmlns:");
                    }
                    b'>' => return Ok(i + 1),
                    b'<' => return Ok(i),
                    _ if !ends_token && token_start.is_none() => token_start = Some(i),
                    _ => {}
                }
            }
        }
        i += 1;
    }
    Ok(i)
}

/// An attribute without a namespace, by name. (roxmltree's `attribute("name")` also matches a
/// namespaced attribute of that local name, whichever comes first: `p:URI` would answer for
/// `URI`.)
pub fn attribute<'a>(node: Node<'a, '_>, name: &str) -> Option<&'a str> {
    node.attributes().find(|a| a.namespace().is_none() && a.name() == name).map(|a| a.value())
}

/// Whether `node` is the element `name` in `namespace`.
pub fn is(node: Node<'_, '_>, namespace: &str, name: &str) -> bool {
    node.is_element() && node.tag_name().namespace() == Some(namespace) && node.tag_name().name() == name
}

/// Text with its XML white space (space, tab, CR, LF) left out: base64 as XML and forms carry
/// it, wrapped at any column.
pub fn without_xml_blanks(text: &str) -> String {
    text.chars().filter(|c| !matches!(c, ' ' | '\t' | '\r' | '\n')).collect()
}

/// Escapes text for an XML attribute value or element content (white space in an attribute as
/// character references, so that attribute-value normalisation keeps it).
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&apos;"),
            '\t' => escaped.push_str("&#9;"),
            '\n' => escaped.push_str("&#10;"),
            '\r' => escaped.push_str("&#13;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// Whether text is only XML white space (space, tab, CR, LF: not Unicode's wider set).
pub fn is_xml_blank(text: &str) -> bool {
    text.bytes().all(|b| matches!(b, b' ' | b'\t' | b'\r' | b'\n'))
}

/// Whether an element holds text (any text child that is not only XML white space).
fn holds_text(node: Node<'_, '_>) -> bool {
    node.children().any(|child| child.is_text() && child.text().is_some_and(|t| !is_xml_blank(t)))
}

/// The element a same-document reference (`#id`) names: the one element with that ID (IDs are
/// unique, or the message was refused).
pub fn element_by_id<'a, 'input>(document: &'a Document<'input>, id: &str) -> Option<Node<'a, 'input>> {
    document.descendants().find(|node| {
        node.is_element()
            && node
                .attributes()
                .any(|a| a.namespace().is_none() && ID_ATTRIBUTES.contains(&a.name()) && a.value() == id)
    })
}

/// An element's text, which must be its one child, a text node (or no child: empty): an element
/// with anything else in it (a comment, an element) has no text to read.
pub fn single_text<'a>(node: Node<'a, '_>) -> Option<&'a str> {
    let mut children = node.children();
    match (children.next(), children.next()) {
        (None, _) => Some(""),
        (Some(only), None) if only.is_text() => only.text(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn what_a_signature_could_be_fooled_by_is_refused() {
        let cases = [
            ("<!DOCTYPE r><r/>", XmlRefusal::Doctype),
            ("<!DOCTYPE r [<!ENTITY x \"y\">]><r>&x;</r>", XmlRefusal::Doctype),
            ("<r><?evil data?></r>", XmlRefusal::ProcessingInstruction),
            ("<r><NameID>admin@corp.example<!---->.evil.example</NameID></r>", XmlRefusal::CommentInText),
            ("<r><a ID=\"x\"/><b ID=\"x\"/></r>", XmlRefusal::DuplicateId),
            ("<r ID=\"x\"><b Id=\"x\"/></r>", XmlRefusal::DuplicateId),
            ("<r>&unknown;</r>", XmlRefusal::Malformed),
            ("<s:r xmlns:s=\"urn:s\"><s:c xmlns:s=\"\"/></s:r>", XmlRefusal::BadNamespace),
            ("<r><!-- two comments --><!-- around text -->t</r>", XmlRefusal::CommentInText),
            ("<r><a></r>", XmlRefusal::Malformed),
            ("", XmlRefusal::Malformed),
        ];
        for (text, refusal) in cases {
            assert_eq!(parse(text).err(), Some(refusal), "{text}");
        }
        let deep = format!("{}{}", "<a>".repeat(MAX_DEPTH + 2), "</a>".repeat(MAX_DEPTH + 2));
        assert_eq!(parse(&deep).err(), Some(XmlRefusal::TooDeep));
        let large = format!("<r>{}</r>", "x".repeat(MAX_MESSAGE_BYTES));
        assert_eq!(parse(&large).err(), Some(XmlRefusal::TooLarge));
        let declarations: String = (0..=MAX_NAMESPACE_DECLARATIONS).map(|i| format!(" xmlns:p{i}=\"u\"")).collect();
        assert_eq!(
            parse(&format!("<r{declarations}/>")).err(),
            Some(XmlRefusal::TooDeep),
            "declarations bounded before parsing"
        );
        let attributes: String = (0..=MAX_EQUALS_SIGNS).map(|i| format!(" a{i}=\"\"")).collect();
        assert_eq!(
            parse(&format!("<r{attributes}/>")).err(),
            Some(XmlRefusal::TooDeep),
            "attributes bounded before parsing"
        );
        let long_uri = format!("<r xmlns:p=\"urn:{}\"/>", "u".repeat(MAX_NAMESPACE_URI_BYTES));
        assert_eq!(parse(&long_uri).err(), Some(XmlRefusal::BadNamespace));
        assert_eq!(XmlRefusal::CommentInText.reason(), "xml_comment_in_text");
    }

    #[test]
    fn what_would_make_the_parser_work_quadratically_is_refused_before_it_runs() {
        // The reviewer's shape: one tag with thousands of attributes on one long-URI prefix
        // (each pair's duplicate check compares the URI). It need not even be well-formed.
        let uri = "u".repeat(100 * 1024);
        let attributes: String = (0..2_000).map(|i| format!(" p:a{i}=\"\"")).collect();
        assert_eq!(parse(&format!("<r xmlns:p=\"urn:{uri}\"{attributes}>")).err(), Some(XmlRefusal::BadNamespace));
        let attributes: String = (0..=MAX_ATTRIBUTES_PER_ELEMENT).map(|i| format!(" p:a{i}=\"\"")).collect();
        assert_eq!(parse(&format!("<r xmlns:p=\"urn:p\"{attributes}/>")).err(), Some(XmlRefusal::TooDeep));
        // A comment, CDATA or a quoted '>' or '=' cannot hide a tag's attributes from the count.
        for hiding in ["<!-- \" -->", "<![CDATA[ \" ]]>", "<?x \" ?>", "<q a='\"'/>", "<q a=\">=\"/>"] {
            let text = format!("<r>{hiding}<t xmlns:p=\"urn:p\"{attributes}/></r>");
            assert_eq!(parse(&text).err(), Some(XmlRefusal::TooDeep), "{hiding}");
        }
        let long_name = format!("<r {}=\"\"/>", "a".repeat(MAX_QNAME_BYTES));
        assert_eq!(parse(&long_name).err(), Some(XmlRefusal::TooDeep));
        let long_element = format!("<{0}/>", "e".repeat(MAX_QNAME_BYTES));
        assert_eq!(parse(&long_element).err(), Some(XmlRefusal::TooDeep));
        // At the bounds, a message still parses.
        let attributes: String = (1..MAX_ATTRIBUTES_PER_ELEMENT).map(|i| format!(" a{i}=\"=\"")).collect();
        assert!(parse(&format!(
            "<r xmlns:p=\"urn:{}\"{attributes}>a=b=c</r>",
            "u".repeat(MAX_NAMESPACE_URI_BYTES - 4)
        ))
        .is_ok());
    }

    #[test]
    fn an_attribute_is_read_only_without_a_namespace() {
        let document = parse(r#"<r xmlns:p="urn:p" p:URI="evil" URI="good"/>"#).unwrap();
        let root = document.root_element();
        assert_eq!(root.attribute("URI"), Some("evil"), "roxmltree's own lookup takes the first local name");
        assert_eq!(attribute(root, "URI"), Some("good"));
        let only_namespaced = parse(r#"<r xmlns:p="urn:p" p:URI="evil"/>"#).unwrap();
        assert_eq!(attribute(only_namespaced.root_element(), "URI"), None);
    }

    #[test]
    fn a_plain_message_parses_and_reads_one_text_node_per_element() {
        let text = "<?xml version=\"1.0\"?>\n<!-- a comment between elements is harmless -->\
                    <r ID=\"a1\"><n>ann@corp.example</n><m>a&amp;b<![CDATA[<c>]]></m><e/><s> <x/> </s></r>";
        let document = parse(text).expect("parses");
        let r = element_by_id(&document, "a1").expect("by its ID");
        assert!(element_by_id(&document, "a2").is_none());
        let child = |name: &str| r.children().find(|c| c.has_tag_name(name)).unwrap();
        assert_eq!(single_text(child("n")), Some("ann@corp.example"));
        assert_eq!(single_text(child("m")), Some("a&b<c>"), "entities resolved, CDATA merged: one text");
        assert_eq!(single_text(child("e")), Some(""));
        assert_eq!(single_text(child("s")), None, "an element around elements has no text to read");
        assert!(is_xml_blank(" \t\r\n") && !is_xml_blank("\u{a0}"), "no-break space is not XML white space");
    }

    proptest! {
        #[test]
        fn arbitrary_text_is_parsed_or_refused_never_a_panic(text in "\\PC{0,300}", bytes in prop::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&text);
            let _ = parse(&String::from_utf8_lossy(&bytes));
        }

        #[test]
        fn xml_shaped_noise_is_parsed_or_refused_never_a_panic(parts in prop::collection::vec(
            prop::sample::select(vec!["<a>", "</a>", "<b ID=\"1\">", "</b>", "<!--c-->", "text", "&amp;", "<?p?>",
                                      "<![CDATA[x]]>", "<x:y xmlns:x=\"u\"/>", "<!DOCTYPE", " ", "\"", "&#x41;"]),
            0..40,
        )) {
            let text: String = parts.concat();
            if let Ok(document) = parse(&text) {
                prop_assert!(document.descendants().all(|node| !node.is_pi()));
            }
        }
    }
}
