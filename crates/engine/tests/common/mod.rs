//! Generated contracts for the engine's tests: three agreements whose key
//! clauses (term, governing law, payment, liability cap, termination) sit on
//! different pages, plus a price list of another document type and contracts in
//! Russian and Chinese.

#![allow(dead_code)]

use quire_engine::{Chunk, ChunkConfig, WorkspaceIndex, chunk_document};

pub struct Document {
    pub id: &'static str,
    pub doc_type: &'static str,
    pub pages: Vec<(u32, String)>,
}

impl Document {
    pub fn page(&self, number: u32) -> &str {
        self.pages
            .iter()
            .find(|(n, _)| *n == number)
            .map(|(_, text)| text.as_str())
            .unwrap_or_default()
    }

    pub fn chunks(&self) -> Vec<Chunk> {
        chunk_document(
            self.id,
            self.doc_type,
            self.pages.iter().map(|(n, t)| (*n, t.as_str())),
            &ChunkConfig::default(),
        )
    }
}

pub const SERVICES: &str = "msa-northwind-2024";
pub const NDA: &str = "nda-globex-2023";
pub const SUPPLY: &str = "supply-initech-2025";
pub const PRICES: &str = "prices-initech-2025";

pub const SERVICES_GOVERNING_LAW: &str =
    "This Agreement shall be governed by the laws of England and Wales.";
pub const NDA_GOVERNING_LAW: &str = "This Agreement is governed by and construed in accordance with the laws of the State of New York.";
pub const SUPPLY_GOVERNING_LAW: &str = "This Contract shall be governed by the laws of the Federal Republic of Germany, excluding the UN Convention on Contracts for the International Sale of Goods.";

/// Boilerplate that pads pages the way real contracts do, different per
/// document so the documents do not share every paragraph.
fn filler(seed: usize, paragraphs: usize) -> String {
    const SENTENCES: &[&str] = &[
        "The Supplier shall perform its obligations with reasonable skill, care and diligence.",
        "Each party shall comply with all applicable anti-bribery and anti-corruption legislation.",
        "Notices under this Agreement shall be in writing and delivered by hand or by recorded post.",
        "The Customer shall provide the Supplier with timely access to its premises and personnel.",
        "No variation of this Agreement shall be effective unless it is in writing and signed by both parties.",
        "Each party warrants that it has full capacity and authority to enter into this Agreement.",
        "The Supplier shall maintain complete and accurate records relating to the Services.",
        "Neither party may assign or transfer any of its rights without the prior written consent of the other.",
        "The parties shall attempt in good faith to resolve any dispute through negotiation between senior executives.",
        "Personal data shall be processed only on documented instructions and in line with data protection legislation.",
        "The Customer may audit the Supplier's compliance on reasonable notice during normal business hours.",
        "Intellectual property rights in deliverables shall vest in the Customer upon full payment.",
        "Force majeure events shall suspend the affected obligations for as long as the event continues.",
        "The Supplier shall ensure that its subcontractors comply with the terms of this Agreement.",
        "Any waiver of a right or remedy shall only be effective if given in writing.",
        "This Agreement constitutes the entire agreement between the parties and supersedes all prior arrangements.",
    ];
    let mut out = String::new();
    for p in 0..paragraphs {
        for s in 0..4 {
            let i = (seed * 7 + p * 5 + s * 3) % SENTENCES.len();
            out.push_str(SENTENCES[i]);
            out.push(' ');
        }
        out.pop();
        out.push_str("\n\n");
    }
    out
}

fn page(heading: &str, clause: &str, seed: usize) -> String {
    format!(
        "{}{heading}\n{clause}\n\n{}",
        filler(seed, 3),
        filler(seed + 11, 3)
    )
}

pub fn services_agreement() -> Document {
    Document {
        id: SERVICES,
        doc_type: "pdf",
        pages: vec![
            (
                1,
                format!(
                    "MASTER SERVICES AGREEMENT\n\nThis Master Services Agreement is made between Northwind Traders Ltd and Contoso Consulting LLP.\n\n{}",
                    filler(1, 5)
                ),
            ),
            (
                2,
                page(
                    "3. Term",
                    "This Agreement commences on the Effective Date and continues for an initial term of twenty-four (24) months, renewing automatically for successive twelve-month periods.",
                    2,
                ),
            ),
            (
                3,
                page(
                    "5. Fees and Payment",
                    "The Customer shall pay each undisputed invoice within thirty (30) days of the invoice date by bank transfer.",
                    3,
                ),
            ),
            (
                4,
                page(
                    "12. Governing Law",
                    &format!(
                        "{SERVICES_GOVERNING_LAW} The courts of England have exclusive jurisdiction over any dispute."
                    ),
                    4,
                ),
            ),
            (
                5,
                page(
                    "9. Limitation of Liability",
                    "The total liability of either party under this Agreement shall not exceed the fees paid in the twelve (12) months preceding the claim.",
                    5,
                ),
            ),
            (
                6,
                page(
                    "14. Termination",
                    "Either party may terminate this Agreement for convenience by giving ninety (90) days' written notice to the other party.",
                    6,
                ),
            ),
        ],
    }
}

pub fn nda() -> Document {
    Document {
        id: NDA,
        doc_type: "pdf",
        pages: vec![
            (
                1,
                page(
                    "MUTUAL NON-DISCLOSURE AGREEMENT\n\n1. Term",
                    "The obligations of confidentiality under this Agreement continue for a period of three (3) years from the date of disclosure.",
                    21,
                ),
            ),
            (2, page("7. Governing Law", NDA_GOVERNING_LAW, 22)),
            (
                3,
                page(
                    "5. Remedies and Liability",
                    "Liability for a breach of confidentiality is not capped, and the disclosing party may seek injunctive relief.",
                    23,
                ),
            ),
            (
                4,
                page(
                    "8. Termination",
                    "Either party may terminate this Agreement upon thirty (30) days' written notice; confidentiality obligations survive termination.",
                    24,
                ),
            ),
        ],
    }
}

pub fn supply_contract() -> Document {
    Document {
        id: SUPPLY,
        doc_type: "pdf",
        pages: vec![
            (
                1,
                format!(
                    "SUPPLY CONTRACT\n\nBetween Initech GmbH (the Buyer) and Umbrella Components AG (the Seller).\n\n{}",
                    filler(31, 5)
                ),
            ),
            (
                2,
                page(
                    "2. Duration",
                    "This Contract has a fixed term of five (5) years starting on 1 January 2025.",
                    32,
                ),
            ),
            (
                3,
                page(
                    "6. Prices and Payment",
                    "The Buyer shall pay for delivered goods within sixty (60) days after receipt of a correct invoice.",
                    33,
                ),
            ),
            (
                4,
                page(
                    "10. Liability",
                    "The Seller's aggregate liability under this Contract is capped at EUR 2,000,000 per contract year.",
                    34,
                ),
            ),
            (
                5,
                page(
                    "11. Termination",
                    "The Buyer may terminate this Contract with immediate effect if the Seller fails to deliver on three consecutive occasions.",
                    35,
                ),
            ),
            (6, page("15. Applicable Law", SUPPLY_GOVERNING_LAW, 36)),
        ],
    }
}

pub fn price_list() -> Document {
    Document {
        id: PRICES,
        doc_type: "csv",
        pages: vec![(
            1,
            "sku,description,unit price,payment terms\n\
             A-100,Hydraulic pump,1200 EUR,payment within 60 days\n\
             A-200,Pressure valve,85 EUR,payment within 60 days\n\
             A-300,Control unit,4300 EUR,payment in advance\n"
                .to_owned(),
        )],
    }
}

pub const RUSSIAN_GOVERNING_LAW: &str =
    "Настоящий договор регулируется законодательством Российской Федерации.";

pub fn russian_contract() -> Document {
    Document {
        id: "dogovor-postavki-2024",
        doc_type: "pdf",
        pages: vec![
            (1, "ДОГОВОР ПОСТАВКИ № 17\n\nПоставщик обязуется передать Покупателю товар, а Покупатель обязуется принять и оплатить товар.\n\nОплата производится в течение десяти банковских дней с даты получения счёта.".to_owned()),
            (2, format!("9. Применимое право\n{RUSSIAN_GOVERNING_LAW} Споры разрешаются в Арбитражном суде города Москвы.")),
        ],
    }
}

pub const CHINESE_GOVERNING_LAW: &str = "本合同受中华人民共和国法律管辖。";

pub fn chinese_contract() -> Document {
    Document {
        id: "hetong-2024",
        doc_type: "pdf",
        pages: vec![
            (
                1,
                "采购合同\n\n买方应在收到发票后三十日内付款。卖方应按时交货。".to_owned(),
            ),
            (
                2,
                format!(
                    "第十条 适用法律\n{CHINESE_GOVERNING_LAW}因本合同引起的争议提交上海仲裁委员会仲裁。"
                ),
            ),
        ],
    }
}

pub fn contracts() -> Vec<Document> {
    vec![services_agreement(), nda(), supply_contract()]
}

pub fn all_documents() -> Vec<Document> {
    vec![
        services_agreement(),
        nda(),
        supply_contract(),
        price_list(),
        russian_contract(),
        chinese_contract(),
    ]
}

/// An in-memory index with every document added one document per commit, as
/// the service adds them.
pub fn indexed(documents: &[Document]) -> WorkspaceIndex {
    let index = WorkspaceIndex::in_memory().expect("in-memory index");
    for document in documents {
        index.add_chunks(&document.chunks()).expect("add chunks");
    }
    index
}

/// The characters `start..end` of `text`.
pub fn chars_at(text: &str, start: usize, end: usize) -> String {
    text.chars().skip(start).take(end - start).collect()
}

impl Document {
    pub fn chunks_with(&self, config: &ChunkConfig) -> Vec<Chunk> {
        chunk_document(
            self.id,
            self.doc_type,
            self.pages.iter().map(|(n, t)| (*n, t.as_str())),
            config,
        )
    }
}
