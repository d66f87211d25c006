//! The printable HTML page of a certificate. Every value may come from an agent (disk model, serial, hostname), so
//! every value is escaped; the signed JSON travels inside the page so the printout can be checked too.

use super::certificate::SignedCertificate;

/// Escapes text for HTML element content and double- or single-quoted attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn row(out: &mut String, label: &str, value: &str) {
    out.push_str(&format!("<tr><th>{}</th><td>{}</td></tr>\n", escape(label), escape(value)));
}

/// A self-contained page (no scripts, no external resources).
pub fn render(signed: &SignedCertificate) -> String {
    let c = &signed.certificate;
    let none = "not recorded";
    let mut rows = String::new();
    row(&mut rows, "Certificate", &c.id);
    row(&mut rows, "Issued", &c.issued_at.to_rfc3339());
    row(&mut rows, "Host", &format!("{} ({})", c.host.hostname, c.host.id));
    row(&mut rows, "System serial", c.host.system_serial.as_deref().unwrap_or(none));
    row(&mut rows, "Manufacturer", c.media.manufacturer.as_deref().unwrap_or(none));
    row(&mut rows, "Model", c.media.model.as_deref().unwrap_or(none));
    row(&mut rows, "Serial number", &c.media.serial);
    row(&mut rows, "Media type", &c.media.media_type);
    row(&mut rows, "Capacity (bytes)", &c.media.size_bytes.to_string());
    row(&mut rows, "Sanitization method", &c.sanitization.method);
    row(&mut rows, "Sanitization technique", &c.sanitization.technique);
    row(&mut rows, "Tool used", &format!("{} {}", c.sanitization.tool, c.sanitization.tool_version));
    row(&mut rows, "Date", &c.sanitization.date.to_rfc3339());
    row(&mut rows, "Verification method", &c.verification.method);
    row(&mut rows, "Verification result", &c.verification.result);
    row(&mut rows, "Verification summary", &c.verification.summary);
    row(&mut rows, "Operator", &c.operator);
    row(&mut rows, "Verifier", &c.verifier);
    row(&mut rows, "Location", &c.location);
    row(&mut rows, "Post-sanitization destination", &c.destination);
    row(&mut rows, "Reason for disposal", &c.reason);
    row(&mut rows, "Disposal case", &c.case_id);
    let warnings: String =
        c.warnings.iter().map(|w| format!("<p class=\"warning\">Warning: {}</p>\n", escape(w))).collect();
    let document = serde_json::to_string_pretty(signed).unwrap_or_default();
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'\">\n\
         <title>Certificate of sanitization {id}</title>\n<style>\n\
         body {{ font-family: sans-serif; max-width: 50em; margin: 2em auto; }}\n\
         th {{ text-align: left; padding-right: 1em; vertical-align: top; }}\n\
         .warning {{ font-weight: bold; }}\n pre {{ white-space: pre-wrap; word-break: break-all; font-size: 70%; }}\n\
         .sign {{ margin-top: 3em; }}\n</style>\n</head>\n<body>\n<h1>Certificate of sanitization</h1>\n\
         <p>Per NIST SP 800-88 Rev. 1. Signed by the Muster collector key {key_id} (Ed25519).</p>\n{warnings}\
         <table>\n{rows}</table>\n\
         <p class=\"sign\">Operator signature: ____________________ &nbsp; Verifier signature: ____________________</p>\n\
         <h2>Signed document</h2>\n<p>Check it with <code>muster-collector certificate verify FILE</code>.</p>\n\
         <pre>{document}</pre>\n</body>\n</html>\n",
        id = escape(&c.id),
        key_id = escape(&signed.signature.key_id),
        document = escape(&document),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<script>alert('x')</script> & "q""#),
            "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; &amp; &quot;q&quot;"
        );
    }
}
