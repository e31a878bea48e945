//! Documents in: files read into text on this machine by the extractor
//! components built from `plugins/`, then run through a policy like text.
//! Real documents nobody here wrote (CUAD's contracts as their original
//! PDFs, CPython's test e-mails, Word files written by python-docx from
//! CUAD's text) and hostile ones made here (a PDF whose stream inflates to
//! 4 GiB, a DOCX zip bomb, an e-mail with 10,000 parts, an encrypted PDF, a
//! truncated one, one nested past any parser's stack, a scan with no
//! text), through the workflows endpoint and the official clients' file
//! parts.

use std::io::Write;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use sluice::api::ServerSettings;
use sluice::documents::{self, Attached, Document, Extraction, Upload};
use std::sync::Arc;

use sluice::plugins::{PluginHost, PluginSet};

use crate::api::{Server, USER_KEY, intact, python, start_in};
use crate::stack::Workspace;
use crate::support::{folder, host, root};

const EXTRACTORS: &[&str] = &[
    "pdf-extractor",
    "email-extractor",
    "docx-extractor",
    "html-extractor",
];

fn cuad() -> PathBuf {
    root().join("../shared/eval/contracts/cuad")
}

/// A CUAD contract's original PDF and CUAD's text of it.
fn cuad_contract(stem: &str) -> (Vec<u8>, String) {
    let pdf = std::fs::read(cuad().join("pdf").join(format!("{stem}.pdf"))).unwrap();
    let text =
        std::fs::read_to_string(cuad().join("contracts").join(format!("{stem}.txt"))).unwrap();
    (pdf, text)
}

/// A short CUAD contract (4 pages) and a two-page one.
const DATACALL: &str =
    "DataCallTechnologies_20060918_SB-2A_EX-10.9_944510_EX-10.9_Content License Agreement";
const NETGEAR: &str = "NETGEAR,INC_04_21_2003-EX-10.16- AMENDMENT #2 TO THE DISTRIBUTION AGREEMENT";

/// The extractors alone, loaded as the host loads them.
struct Extractors {
    host: PluginHost,
    plugins: Arc<PluginSet>,
    _dir: tempfile::TempDir,
}

fn extractors() -> Extractors {
    let pairs: Vec<(&str, &str)> = EXTRACTORS.iter().map(|n| (*n, *n)).collect();
    let dir = folder(&pairs);
    let host = host();
    host.registry().load_dir(dir.path());
    let plugins = host.registry().snapshot();
    assert_eq!(
        plugins.rejections().count(),
        0,
        "{:?}",
        plugins.rejections().collect::<Vec<_>>()
    );
    Extractors {
        host,
        plugins,
        _dir: dir,
    }
}

impl Extractors {
    fn read(
        &self,
        bytes: Vec<u8>,
        media_type: Option<&str>,
    ) -> Result<Document, documents::DocumentError> {
        let upload = Upload {
            bytes,
            media_type: media_type.map(str::to_string),
            name: None,
        };
        self.host.engine().block_on(documents::read(
            &self.plugins,
            &Extraction::default(),
            upload,
        ))
    }
}

/// F1 of the two multisets of words: how much of one text the other holds.
fn word_f1(a: &str, b: &str) -> f64 {
    let mut counts = std::collections::HashMap::<&str, i64>::new();
    let (a, b): (Vec<&str>, Vec<&str>) = (
        a.split_whitespace().collect(),
        b.split_whitespace().collect(),
    );
    for w in &a {
        *counts.entry(w).or_default() += 1;
    }
    let common = b
        .iter()
        .filter(|w| {
            counts.get_mut(*w).is_some_and(|c| {
                *c -= 1;
                *c >= 0
            })
        })
        .count() as f64;
    2.0 * common / (a.len() + b.len()).max(1) as f64
}

/// A PDF with the given objects (1-based), `/Root 1 0 R`, a correct
/// cross-reference table and `trailer_extra` in its trailer.
fn pdf(objects: &[Vec<u8>], trailer_extra: &str) -> Vec<u8> {
    let mut out = b"%PDF-1.4\n".to_vec();
    let mut offsets = Vec::new();
    for (i, body) in objects.iter().enumerate() {
        offsets.push(out.len());
        out.extend(format!("{} 0 obj\n", i + 1).as_bytes());
        out.extend(body);
        out.extend(b"\nendobj\n");
    }
    let xref = out.len();
    out.extend(format!("xref\n0 {}\n0000000000 65535 f \n", objects.len() + 1).as_bytes());
    for offset in offsets {
        out.extend(format!("{offset:010} 00000 n \n").as_bytes());
    }
    out.extend(
        format!(
            "trailer\n<< /Size {} /Root 1 0 R {trailer_extra} >>\nstartxref\n{xref}\n%%EOF\n",
            objects.len() + 1
        )
        .as_bytes(),
    );
    out
}

fn stream(dictionary: &str, data: &[u8]) -> Vec<u8> {
    let mut out = format!("<< {dictionary} /Length {} >>\nstream\n", data.len()).into_bytes();
    out.extend(data);
    out.extend(b"\nendstream");
    out
}

/// A one-page PDF: catalog, pages, the page, its content stream, Helvetica
/// (WinAnsi), then `more` objects from number 6.
fn one_page(
    content: Vec<u8>,
    page_extra: &str,
    more: Vec<Vec<u8>>,
    trailer_extra: &str,
) -> Vec<u8> {
    let mut objects = vec![
        b"<< /Type /Catalog /Pages 2 0 R >>".to_vec(),
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>".to_vec(),
        format!(
            "<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> {page_extra} >> >>"
        )
        .into_bytes(),
        content,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>".to_vec(),
    ];
    objects.extend(more);
    pdf(&objects, trailer_extra)
}

/// A one-page PDF whose lines are `lines`, in Latin-1 (WinAnsi).
fn text_pdf(lines: &[&str]) -> Vec<u8> {
    let mut content = b"BT /F1 11 Tf 14 TL 72 720 Td\n".to_vec();
    for line in lines {
        content.push(b'(');
        for c in line.chars() {
            match c {
                '(' | ')' | '\\' => content.extend([b'\\', c as u8]),
                c if (c as u32) < 256 => content.push(c as u32 as u8),
                _ => content.push(b'?'),
            }
        }
        content.extend(b") Tj T*\n");
    }
    content.extend(b"ET");
    one_page(stream("", &content), "", vec![], "")
}

/// Deflate (zlib) data of `zeros` zero bytes, made of one flushed block
/// repeated: a few MB that inflate to `zeros` without making them here.
fn zlib_bomb(zeros: u64) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress};
    const CHUNK: usize = 64 << 20;
    let mut compress = Compress::new(Compression::best(), false);
    let input = vec![0u8; CHUNK];
    let mut block = Vec::with_capacity(CHUNK / 500);
    compress
        .compress_vec(&input, &mut block, FlushCompress::Full)
        .unwrap();
    while compress.total_in() < CHUNK as u64 {
        let consumed = compress.total_in() as usize;
        block.reserve(CHUNK / 500);
        compress
            .compress_vec(&input[consumed..], &mut block, FlushCompress::Full)
            .unwrap();
    }
    let mut out = vec![0x78, 0xDA];
    for _ in 0..zeros / CHUNK as u64 {
        out.extend(&block);
    }
    out.extend([0x03, 0x00]); // a final, empty fixed block
    out.extend([0, 0, 0, 1]); // an Adler-32 nobody reaches
    out
}

/// A DOCX whose document.xml inflates to `size` bytes of paragraphs.
fn docx_bomb(size: usize) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let options = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("[Content_Types].xml", options).unwrap();
    zip.write_all(b"<?xml version=\"1.0\"?><Types xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>").unwrap();
    zip.start_file("word/document.xml", options).unwrap();
    zip.write_all(b"<w:document xmlns:w=\"http://schemas.openxmlformats.org/wordprocessingml/2006/main\"><w:body>").unwrap();
    let paragraph = b"<w:p><w:r><w:t>a</w:t></w:r></w:p>".repeat(1 << 14);
    let mut written = 0;
    while written < size {
        zip.write_all(&paragraph).unwrap();
        written += paragraph.len();
    }
    zip.write_all(b"</w:body></w:document>").unwrap();
    zip.finish().unwrap().into_inner()
}

/// An e-mail with `parts` MIME parts.
fn many_part_email(parts: usize) -> Vec<u8> {
    let mut mail = String::from(
        "From: a@example.com\r\nTo: b@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n",
    );
    for i in 0..parts {
        mail.push_str(&format!(
            "--b\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n"
        ));
    }
    mail.push_str("--b--\r\n");
    mail.into_bytes()
}

/// The hostile documents of the issue, each with the status and code it must get.
fn hostile() -> Vec<(&'static str, Vec<u8>, &'static str, u16, &'static str)> {
    let (contract, _) = cuad_contract(NETGEAR);
    let nested = format!("/Nested {}0{}", "[".repeat(200_000), "]".repeat(200_000));
    let encrypted = {
        let id = "<0123456789abcdef0123456789abcdef>";
        let owner = format!("<{}>", "7a".repeat(32));
        let user = format!("<{}>", "5c".repeat(32));
        one_page(
            stream("", b"BT /F1 11 Tf 72 720 Td (secret) Tj ET"),
            "",
            vec![
                format!("<< /Filter /Standard /V 1 /R 2 /O {owner} /U {user} /P -4 >>")
                    .into_bytes(),
            ],
            &format!("/Encrypt 6 0 R /ID [{id} {id}]"),
        )
    };
    let scan = one_page(
        stream("", b"q 612 0 0 792 0 0 cm /Im1 Do Q"),
        "/XObject << /Im1 6 0 R >>",
        vec![stream(
            "/Type /XObject /Subtype /Image /Width 2 /Height 2 /ColorSpace /DeviceGray /BitsPerComponent 8",
            &[0, 255, 255, 0],
        )],
        "",
    );
    vec![
        (
            "a PDF whose content stream inflates to 4 GiB",
            one_page(
                stream("/Filter /FlateDecode", &zlib_bomb(4 << 30)),
                "",
                vec![],
                "",
            ),
            "application/pdf",
            413,
            "document_expands_too_far",
        ),
        (
            "a DOCX whose document.xml inflates to 256 MiB",
            docx_bomb(256 << 20),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            413,
            "document_too_large",
        ),
        (
            "an e-mail with 10,000 MIME parts",
            many_part_email(10_000),
            "message/rfc822",
            413,
            "document_too_large",
        ),
        (
            "an encrypted PDF",
            encrypted,
            "application/pdf",
            422,
            "encrypted_document",
        ),
        (
            "a truncated PDF",
            contract[..contract.len() / 3].to_vec(),
            "application/pdf",
            422,
            "malformed_document",
        ),
        (
            "a PDF with an array nested 200,000 deep",
            one_page(
                stream("", b"BT /F1 11 Tf 72 720 Td (deep) Tj ET"),
                &nested,
                vec![],
                "",
            ),
            "application/pdf",
            422,
            "malformed_document",
        ),
        (
            "a scanned PDF with no text layer",
            scan,
            "application/pdf",
            422,
            "no_text_layer",
        ),
        (
            "bytes of no known kind",
            vec![0xFF, 0xD8, 0xFF, 0xE0, 0, 16, b'J', b'F', b'I', b'F'],
            "",
            415,
            "unrecognised_document",
        ),
    ]
}

#[test]
fn real_pdfs_emails_and_word_files_read_into_their_text() {
    let extractors = extractors();

    // CUAD's PDFs against CUAD's own text of them.
    for stem in [DATACALL, NETGEAR] {
        let (pdf, text) = cuad_contract(stem);
        let document = extractors.read(pdf, None).unwrap();
        assert_eq!(document.media_type, "application/pdf");
        assert!(document.pages >= 1, "{stem}: {} pages", document.pages);
        let f1 = word_f1(&text, document.text());
        assert!(f1 >= 0.95, "{stem}: word F1 {f1:.3} against CUAD's text");
        let extractor = document.extractor.as_ref().unwrap();
        assert_eq!(extractor.name, "pdf-extractor");
    }

    // CPython's test e-mails: every one read, or refused naming why.
    let mut read_count = 0;
    let mut refused = Vec::new();
    let mut attachments = 0;
    let mut skipped = Vec::new();
    let dir = root().join("../shared/eval/email/cpython");
    let mut messages: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("msg_"))
        .collect();
    messages.sort();
    for path in &messages {
        match extractors.read(std::fs::read(path).unwrap(), Some("message/rfc822")) {
            Ok(document) => {
                read_count += 1;
                attachments += document.attachments.len();
                for attached in &document.attachments {
                    if let Attached::Skipped {
                        media_type,
                        skipped: why,
                        ..
                    } = attached
                    {
                        skipped.push(format!("{media_type}: {why}"));
                    }
                }
                assert!(
                    !document.text().trim().is_empty() || document.attachments.is_empty(),
                    "{}",
                    path.display()
                );
            }
            Err(error) => refused.push(format!("{}: {} ({})", path.display(), error, error.code())),
        }
    }
    println!(
        "{read_count} of {} CPython e-mails read, {attachments} attachments; refused: {refused:#?}",
        messages.len()
    );
    // Images and other files no extractor reads are listed, with why, and
    // never fail the message that carries them.
    println!("skipped attachments: {skipped:#?}");
    assert!(
        skipped
            .iter()
            .any(|s| s.starts_with("image/") && s.contains("no extractor reads")),
        "{skipped:#?}"
    );
    assert!(messages.len() >= 40);
    assert!(refused.is_empty(), "{refused:#?}");

    // An e-mail carrying a CUAD PDF: the attachment is read with the PDF
    // extractor and its text follows the message's.
    let (pdf, text) = cuad_contract(NETGEAR);
    let encoded = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(&pdf);
        b64.as_bytes()
            .chunks(76)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect::<Vec<_>>()
            .join("\r\n")
    };
    let mail = format!(
        "From: Ana Gómez <ana.gomez@example.co>\r\nTo: legal@example.co\r\nSubject: Contrato para revisión\r\nDate: Mon, 7 Dec 2026 10:00:00 -0500\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"XYZ\"\r\n\r\n--XYZ\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nAdjunto el contrato.\r\n--XYZ\r\nContent-Type: application/pdf; name=\"amendment.pdf\"\r\nContent-Disposition: attachment; filename=\"amendment.pdf\"\r\nContent-Transfer-Encoding: base64\r\n\r\n{encoded}\r\n--XYZ--\r\n"
    );
    let document = extractors.read(mail.into_bytes(), None).unwrap();
    assert_eq!(document.media_type, "message/rfc822");
    assert_eq!(
        document.metadata.title.as_deref(),
        Some("Contrato para revisión")
    );
    let all = document.text();
    assert!(
        all.starts_with("Contrato para revisión\n\nFrom: Ana Gómez <ana.gomez@example.co>"),
        "{all}"
    );
    assert!(all.contains("Adjunto el contrato."), "{all}");
    assert!(
        all.contains("Attachment: amendment.pdf (application/pdf)"),
        "{all}"
    );
    let Attached::Read(attachment) = &document.attachments[0] else {
        panic!("{:?}", document.attachments);
    };
    assert_eq!(attachment.extractor.as_ref().unwrap().name, "pdf-extractor");
    assert!(word_f1(&text, attachment.text()) >= 0.95);
    assert_eq!(document.extractors().len(), 2);

    // Word files written by python-docx from CUAD's text, one paragraph
    // per line, the title as a heading and a table of the parties.
    let out = tempfile::tempdir().unwrap();
    for stem in [DATACALL, NETGEAR] {
        let (_, text) = cuad_contract(stem);
        let source = out.path().join("source.txt");
        std::fs::write(&source, &text).unwrap();
        let docx = out.path().join("contract.docx");
        let status = std::process::Command::new(crate::api::python_bin())
            .arg(root().join("tests/python/write_docx.py"))
            .arg(&source)
            .arg(&docx)
            .status()
            .unwrap();
        assert!(status.success());
        let document = extractors
            .read(std::fs::read(&docx).unwrap(), None)
            .unwrap();
        assert_eq!(
            document.media_type,
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
        );
        assert_eq!(document.metadata.title.as_deref(), Some("CUAD contract"));
        assert_eq!(document.metadata.author.as_deref(), Some("sluice tests"));
        let kinds: Vec<_> = document.blocks.iter().map(|b| b.kind).collect();
        assert_eq!(
            kinds[0],
            documents::BlockKind::Heading,
            "{:?}",
            &document.blocks[..2]
        );
        assert!(kinds.contains(&documents::BlockKind::TableRow));
        let table_row = document
            .blocks
            .iter()
            .find(|b| b.kind == documents::BlockKind::TableRow)
            .unwrap();
        assert_eq!(table_row.text, "Party\tRole");
        let body: String = document
            .blocks
            .iter()
            .filter(|b| b.kind != documents::BlockKind::TableRow)
            .map(|b| b.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let f1 = word_f1(&text, &body);
        assert!(f1 >= 0.999, "{stem}: word F1 {f1:.4}");
    }

    // An HTML page: its structure, and nothing of its scripts or styles.
    let page = "<!DOCTYPE html><html><head><title>Contrato</title><meta name=author content='Ana'><style>p{color:red}</style><script>var secret = 1;</script></head>\
        <body><h1>Contrato de suministro</h1><p>Entre  las\n partes <b>Acme</b> y Beta.</p><ul><li>Primera</li><li>Segunda</li></ul>\
        <table><tr><th>Parte</th><th>Rol</th></tr><tr><td>Acme</td><td>Proveedor</td></tr></table><pre>línea 1\n  línea 2</pre></body></html>";
    let document = extractors.read(page.as_bytes().to_vec(), None).unwrap();
    assert_eq!(document.media_type, "text/html");
    assert_eq!(document.metadata.title.as_deref(), Some("Contrato"));
    assert_eq!(document.metadata.author.as_deref(), Some("Ana"));
    let blocks: Vec<(documents::BlockKind, &str)> = document
        .blocks
        .iter()
        .map(|b| (b.kind, b.text.as_str()))
        .collect();
    use documents::BlockKind::*;
    assert_eq!(
        blocks,
        vec![
            (Heading, "Contrato de suministro"),
            (Paragraph, "Entre las partes Acme y Beta."),
            (ListItem, "Primera"),
            (ListItem, "Segunda"),
            (TableRow, "Parte\tRol"),
            (TableRow, "Acme\tProveedor"),
            (Paragraph, "línea 1\n  línea 2"),
        ]
    );
}

#[test]
fn a_document_that_reads_past_its_deadline_is_stopped_there() {
    let extractors = extractors();
    // The longest CUAD PDF takes far more than 20 ms to read.
    let (pdf, _) = cuad_contract(
        "PapaJohnsInternationalInc_20190617_8-K_EX-10.1_11707365_EX-10.1_Endorsement Agreement",
    );
    let mut settings = Extraction::default();
    settings.call.deadline = Duration::from_millis(20);
    let upload = Upload {
        bytes: pdf,
        media_type: None,
        name: None,
    };
    let started = Instant::now();
    let result =
        extractors
            .host
            .engine()
            .block_on(documents::read(&extractors.plugins, &settings, upload));
    let took = started.elapsed();
    let error = result.unwrap_err();
    println!("stopped after {took:?}: {error}");
    assert_eq!(error.code(), "document_too_slow", "{error}");
    assert!(
        took < settings.call.deadline + Duration::from_millis(50),
        "{took:?}"
    );
    // The same extractor reads the next document in full.
    let next = extractors.read(text_pdf(&["Next."]), None).unwrap();
    assert_eq!(next.text(), "Next.");
}

#[test]
fn hostile_documents_are_refused_by_name_and_the_next_one_reads() {
    let extractors = extractors();
    let deadline = Extraction::default().call.deadline;
    for (what, bytes, media_type, _, code) in hostile() {
        let size = bytes.len();
        let started = Instant::now();
        let result = extractors.read(bytes, Some(media_type).filter(|t| !t.is_empty()));
        let took = started.elapsed();
        let error = result.expect_err(what);
        println!(
            "{what} ({size} bytes): {} after {took:?}: {error}",
            error.code()
        );
        assert_eq!(error.code(), code, "{what}: {error}");
        assert!(
            took < deadline + Duration::from_secs(1),
            "{what} took {took:?}"
        );
        // The extractor is not blamed for the document: the next one reads.
        let next = extractors
            .read(text_pdf(&["The Supplier shall deliver."]), None)
            .unwrap();
        assert!(
            next.text().contains("The Supplier shall deliver."),
            "after {what}"
        );
    }
}

/// A multipart/form-data body with one file part.
fn form(name: &str, media_type: &str, bytes: &[u8], tags: Option<&str>) -> (String, Vec<u8>) {
    let boundary = "sluice-test-boundary-7d3f";
    let mut body = Vec::new();
    if let Some(tags) = tags {
        body.extend(
            format!(
                "--{boundary}\r\nContent-Disposition: form-data; name=\"tags\"\r\n\r\n{tags}\r\n"
            )
            .as_bytes(),
        );
    }
    body.extend(
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{name}\"\r\nContent-Type: {media_type}\r\n\r\n"
        )
        .as_bytes(),
    );
    body.extend(bytes);
    body.extend(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

async fn post(server: &Server, path: &str, content_type: &str, body: Vec<u8>) -> (u16, Value) {
    let response = server
        .http
        .post(format!("{}{path}", server.url))
        .header("authorization", format!("Bearer {USER_KEY}"))
        .header("content-type", content_type)
        .body(body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn audit_records(ws: &Workspace, kind: &str) -> Vec<Value> {
    std::fs::read_to_string(ws.audit())
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|r| r["kind"] == kind)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_get_a_4xx_in_the_error_shape_and_the_server_keeps_serving() {
    let server = start_in(Workspace::new(&[]), ServerSettings::default()).await;
    let good =
        text_pdf(&["Contrato entre Carlos Andrés Restrepo Gómez y Inversiones Andinas S.A.S."]);
    let hostile = hostile();
    for (what, bytes, media_type, status, code) in hostile.iter().cloned() {
        let started = Instant::now();
        let (got, body) = post(
            &server,
            "/v1/workflows/cloud",
            if media_type.is_empty() {
                "application/octet-stream"
            } else {
                media_type
            },
            bytes,
        )
        .await;
        println!(
            "{what}: {got} {} after {:?}",
            body["error"]["code"],
            started.elapsed()
        );
        assert_eq!(
            (got, body["error"]["code"].as_str()),
            (status, Some(code)),
            "{what}: {body}"
        );
        assert_eq!(body["error"]["type"], "invalid_request_error", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().len() > 20,
            "{body}"
        );
        assert_eq!(body["error"]["param"], "body", "{body}");
        let (ok, answer) = post(
            &server,
            "/v1/workflows/cloud",
            "application/pdf",
            good.clone(),
        )
        .await;
        assert_eq!(ok, 200, "after {what}: {answer}");
    }
    // The same through a form and through a chat file part.
    let (what, bytes, media_type, status, code) = hostile[2].clone();
    let (content_type, body) = form("many.eml", media_type, &bytes, None);
    let (got, body) = post(&server, "/v1/workflows/cloud", &content_type, body).await;
    assert_eq!(
        (got, body["error"]["code"].as_str()),
        (status, Some(code)),
        "{what}: {body}"
    );
    assert_eq!(body["error"]["param"], "file");
    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&hostile[3].1)
    };
    let chat = server
        .chat(json!({"model": "sluice/cloud", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "Review this."},
            {"type": "file", "file": {"file_data": format!("data:application/pdf;base64,{data}"), "filename": "locked.pdf"}}]}]}))
        .await;
    assert_eq!(chat.status, 422, "{}", chat.body);
    assert_eq!(chat.body["error"]["code"], "encrypted_document");
    assert_eq!(chat.body["error"]["param"], "messages[0].content[1].file");

    // Each refusal is audited with its reason and the file's digest; nothing
    // of a refused document reached the cloud.
    let refused: Vec<Value> = audit_records(&server.ws, "extract")
        .into_iter()
        .filter(|r| r["decision"] == "refused")
        .collect();
    assert_eq!(refused.len(), hostile.len() + 2, "{refused:#?}");
    for record in &refused {
        assert_eq!(record["inputs"]["document"].as_str().unwrap().len(), 64);
        assert!(!record["reasons"][0].as_str().unwrap().is_empty());
    }
    assert!(!server.cloud_received().contains("secret"));
    intact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pdf_contract_gives_the_record_its_text_gives() {
    let server = start_in(Workspace::new(&[]), ServerSettings::default()).await;
    let (pdf, text) = cuad_contract(DATACALL);
    let (status, from_text) = post(
        &server,
        "/v1/workflows/contract-triage",
        "text/plain",
        text.clone().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{from_text}");
    let (content_type, body) = form("datacall.pdf", "application/pdf", &pdf, Some("review"));
    let (status, from_pdf) = post(
        &server,
        "/v1/workflows/contract-triage",
        &content_type,
        body,
    )
    .await;
    assert_eq!(status, 200, "{from_pdf}");
    let document = &from_pdf["document"];
    assert_eq!(document["media_type"], "application/pdf");
    assert_eq!(document["name"], "datacall.pdf");
    assert_eq!(document["bytes"], pdf.len());
    assert!(document["pages"].as_u64().unwrap() >= 3, "{document}");
    assert_eq!(document["extractor"]["name"], "pdf-extractor");

    // The same file as the OpenAI Python client's file part.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("datacall.pdf");
    std::fs::write(&file, &pdf).unwrap();
    let answer = dir.path().join("answer.json");
    python(
        "file_part.py",
        &server,
        &[
            ("SLUICE_FILE", file.to_str().unwrap()),
            ("SLUICE_OUT", answer.to_str().unwrap()),
        ],
    );
    let from_client: Value =
        serde_json::from_str(&std::fs::read_to_string(&answer).unwrap()).unwrap();

    let (a, b, c) = (&from_text["result"], &from_pdf["result"], &from_client);
    println!("from text: {a}\nfrom the PDF: {b}\nfrom the client's file part: {c}");
    // The same file gives the same record whichever way it arrives.
    assert_eq!(b, c, "the form and the client's file part differ");
    // The extraction has CUAD's words but not its layout (CUAD's text puts
    // each paragraph on one line; the PDF's lines stay lines). What the
    // contract is, who its parties are, its law and the clauses it lacks
    // must not change with that.
    for field in ["document_type", "governing_law", "parties", "risk_flags"] {
        assert_eq!(a[field], b[field], "{field}: text {a}\nPDF {b}");
    }
    // A date may be chosen differently among the same candidates, never
    // one the contract does not write.
    let written = sluice::local::dates::find(&text);
    for field in ["agreement_date", "effective_date", "expiration_date"] {
        for value in [&a[field], &b[field]].into_iter().filter_map(Value::as_str) {
            assert!(
                written.iter().any(|d| d == value),
                "{field} {value} is not a date of the contract: {written:?}"
            );
        }
        if a[field] != b[field] {
            println!(
                "{field} differs: from the text {}, from the PDF {}",
                a[field], b[field]
            );
        }
    }

    // Audited: the PDF's type, size, pages and the extractor's version;
    // never its text.
    let extracts = audit_records(&server.ws, "extract");
    assert_eq!(extracts.len(), 2, "{extracts:#?}");
    let sha = crate::support::sha256(&server.ws.policies().join("pdf-extractor.wasm"));
    for entry in &extracts {
        assert_eq!(entry["decision"], "read");
        assert_eq!(entry["document"]["media_type"], "application/pdf");
        assert_eq!(entry["document"]["bytes"], pdf.len());
        assert_eq!(entry["plugins"][0]["sha256"], sha.as_str());
        assert!(!entry.to_string().contains("Data Call"), "{entry}");
    }
    intact(&server);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_through_each_api_leave_only_as_pseudonymised_text() {
    let server = start_in(Workspace::new(&[]), ServerSettings::default()).await;
    let lines = [
        "CONTRATO DE ARRENDAMIENTO",
        "Entre Carlos Andrés Restrepo Gómez, C.C. 79.845.123, correo carlos.restrepo@example.co,",
        "y la sociedad Inversiones Andinas S.A.S., NIT 900.123.456-7, se celebra este contrato.",
    ];
    let pdf = text_pdf(&lines);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("arrendamiento.pdf");
    std::fs::write(&file, &pdf).unwrap();
    // The OpenAI client's file part, the Responses API's input_file and
    // the Messages API's document block, each on the cloud policy: the fake
    // cloud echoes what it was sent, re-identified on the way back.
    python(
        "file_clients.py",
        &server,
        &[
            ("SLUICE_FILE", file.to_str().unwrap()),
            ("SLUICE_EXPECT", &lines.join("\n")),
        ],
    );
    // A raw body and a JSON file, the same way.
    let (status, raw) = post(
        &server,
        "/v1/workflows/cloud",
        "application/pdf",
        pdf.clone(),
    )
    .await;
    assert_eq!(status, 200, "{raw}");
    let data = {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(&pdf)
    };
    let body = json!({"file": {"file_data": format!("data:application/pdf;base64,{data}"), "filename": "a.pdf"}});
    let (status, json_file) = post(
        &server,
        "/v1/workflows/cloud",
        "application/json",
        body.to_string().into_bytes(),
    )
    .await;
    assert_eq!(status, 200, "{json_file}");
    assert_eq!(json_file["document"]["name"], "a.pdf");
    assert_eq!(raw["result"], json_file["result"]);

    let sent = server.cloud_received();
    assert!(sent.contains("[PERSON_1]"), "{sent}");
    for raw in [
        "Carlos",
        "Restrepo",
        "79.845.123",
        "carlos.restrepo@example.co",
        "900.123.456-7",
        &data[..40],
        "%PDF",
    ] {
        assert!(!sent.contains(raw), "{raw} reached the cloud: {sent}");
    }
    intact(&server);
}
