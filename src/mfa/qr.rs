//! QR codes as SVG, rendered at the edge (an enrolment's `otpauth://` URI): one `<path>` of the
//! dark modules, presentation attributes only (the pages' CSP allows no inline style), with the
//! four-module quiet zone the standard asks for.

use qrcodegen::{QrCode, QrCodeEcc};

/// The SVG of a QR code of `text` (error correction M), `None` when it does not fit in a QR code.
pub fn svg(text: &str) -> Option<String> {
    let code = QrCode::encode_text(text, QrCodeEcc::Medium).ok()?;
    let size = code.size();
    let border = 4;
    let full = size + 2 * border;
    let mut path = String::new();
    for y in 0..size {
        for x in 0..size {
            if code.get_module(x, y) {
                path.push_str(&format!("M{},{}h1v1h-1z", x + border, y + border));
            }
        }
    }
    Some(format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {full} {full}\" width=\"{px}\" height=\"{px}\" \
         shape-rendering=\"crispEdges\" role=\"img\" aria-label=\"QR code\"><rect width=\"100%\" height=\"100%\" \
         fill=\"#ffffff\"/><path d=\"{path}\" fill=\"#000000\"/></svg>",
        px = full * 6
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_otpauth_uri_becomes_an_svg_of_modules_without_inline_style() {
        let uri = "otpauth://totp/Acme:ann%40acme.test?secret=GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ&issuer=Acme";
        let svg = svg(uri).expect("fits");
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\""));
        assert!(!svg.contains("style"));
        let modules = svg.matches('z').count();
        assert!(modules > 200, "{modules} dark modules");
        // The same text always renders the same code; another text, another one.
        assert_eq!(Some(svg.clone()), super::svg(uri));
        assert_ne!(Some(svg), super::svg("otpauth://totp/Other"));
        assert!(super::svg(&"x".repeat(8000)).is_none(), "too long for any QR code");
    }
}
