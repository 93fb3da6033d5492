//! Label → canonical account id, so statements of several periods and
//! companies line up. Ids are US-GAAP element names; the beginning and ending
//! cash of a cash-flow statement, one element with two contexts in XBRL, get
//! the `…AtBeginningOfPeriod` / `…AtEndOfPeriod` ids of our own.
//!
//! Labels are compared normalised (`text::normalize_label`: lower case,
//! parenthesised qualifiers removed), exactly or, for patterns ending in `*`,
//! as a prefix. The first matching entry wins, so specific ones come first.

use crate::StatementType;

type Entry = (&'static str, &'static [&'static str]);

const INCOME: &[Entry] = &[
    (
        "Revenues",
        &[
            "revenue",
            "revenues",
            "total revenue",
            "total revenues",
            "net revenue",
            "net revenues",
            "total net revenue",
            "total net revenues",
            "net sales",
            "total net sales",
            "sales",
            "revenues net",
        ],
    ),
    (
        "CostOfRevenue",
        &[
            "cost of revenue",
            "cost of revenues",
            "total cost of revenue",
            "total cost of revenues",
            "cost of sales",
            "cost of goods sold",
            "cost of products sold",
            "total cost of sales",
        ],
    ),
    ("GrossProfit", &["gross profit", "gross margin"]),
    (
        "ResearchAndDevelopmentExpense",
        &[
            "research and development",
            "research and development expense",
        ],
    ),
    (
        "SellingGeneralAndAdministrativeExpense",
        &[
            "selling general and administrative",
            "selling general and administrative expenses",
            "selling general and administrative expense",
        ],
    ),
    (
        "OperatingExpenses",
        &["total operating expenses", "total costs and expenses"],
    ),
    (
        "OperatingIncomeLoss",
        &[
            "operating income",
            "income from operations",
            "loss from operations",
            "operating loss",
            "operating profit",
        ],
    ),
    (
        "InterestExpense",
        &["interest expense", "interest expense net"],
    ),
    (
        "IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest",
        &[
            "income before income taxes",
            "loss before income taxes",
            "income before provision for income taxes",
            "earnings before income taxes",
            "income before taxes",
            "profit before tax",
        ],
    ),
    (
        "IncomeTaxExpenseBenefit",
        &[
            "provision for income taxes",
            "income tax expense",
            "income taxes",
            "income tax provision",
            "provision for income tax",
            "income tax",
        ],
    ),
    (
        "NetIncomeLoss",
        &[
            "net income",
            "net loss",
            "net earnings",
            "net income attributable to*",
            "profit for the year",
        ],
    ),
    (
        "EarningsPerShareBasic",
        &[
            "basic earnings per share",
            "net income per share basic",
            "earnings per share basic",
            "basic net income per share",
        ],
    ),
    (
        "EarningsPerShareDiluted",
        &[
            "diluted earnings per share",
            "net income per share diluted",
            "earnings per share diluted",
            "diluted net income per share",
        ],
    ),
];

const BALANCE: &[Entry] = &[
    (
        "CashAndCashEquivalentsAtCarryingValue",
        &["cash and cash equivalents", "cash", "cash and equivalents"],
    ),
    (
        "ShortTermInvestments",
        &[
            "short term investments",
            "marketable securities",
            "short term marketable securities",
        ],
    ),
    (
        "AccountsReceivableNetCurrent",
        &[
            "accounts receivable",
            "accounts receivable net",
            "trade receivables",
            "trade accounts receivable net",
            "receivables net",
            "accounts receivable net of allowance*",
        ],
    ),
    (
        "InventoryNet",
        &["inventories", "inventory", "inventories net"],
    ),
    (
        "PrepaidExpenseAndOtherAssetsCurrent",
        &[
            "prepaid expenses and other current assets",
            "prepaid expenses and other",
        ],
    ),
    ("AssetsCurrent", &["total current assets"]),
    (
        "PropertyPlantAndEquipmentNet",
        &[
            "property and equipment net",
            "property plant and equipment net",
            "property and equipment",
            "property plant and equipment",
        ],
    ),
    (
        "OperatingLeaseRightOfUseAsset",
        &["operating lease right of use assets"],
    ),
    ("Goodwill", &["goodwill"]),
    (
        "IntangibleAssetsNetExcludingGoodwill",
        &[
            "intangible assets net",
            "intangible assets",
            "other intangible assets net",
        ],
    ),
    (
        "OtherAssetsNoncurrent",
        &[
            "other assets",
            "other non current assets",
            "other noncurrent assets",
        ],
    ),
    ("Assets", &["total assets"]),
    ("AccountsPayableCurrent", &["accounts payable"]),
    (
        "AccruedLiabilitiesCurrent",
        &[
            "accrued liabilities",
            "accrued expenses",
            "accrued expenses and other current liabilities",
            "accrued and other current liabilities",
        ],
    ),
    (
        "ContractWithCustomerLiabilityCurrent",
        &["deferred revenue", "deferred revenue current"],
    ),
    (
        "LongTermDebtCurrent",
        &["current portion of long term debt", "short term debt"],
    ),
    ("LiabilitiesCurrent", &["total current liabilities"]),
    (
        "LongTermDebtNoncurrent",
        &[
            "long term debt",
            "long term debt net",
            "long term debt net of current portion",
            "long term debt less current portion",
        ],
    ),
    ("Liabilities", &["total liabilities"]),
    ("CommonStockValue", &["common stock*"]),
    ("AdditionalPaidInCapital", &["additional paid in capital"]),
    (
        "RetainedEarningsAccumulatedDeficit",
        &["retained earnings", "accumulated deficit"],
    ),
    (
        "AccumulatedOtherComprehensiveIncomeLossNetOfTax",
        &[
            "accumulated other comprehensive income",
            "accumulated other comprehensive loss",
        ],
    ),
    ("TreasuryStockValue", &["treasury stock*"]),
    (
        "StockholdersEquity",
        &[
            "total stockholders equity",
            "total shareholders equity",
            "total stockholders deficit",
        ],
    ),
    (
        "StockholdersEquityIncludingPortionAttributableToNoncontrollingInterest",
        &["total equity"],
    ),
    (
        "LiabilitiesAndStockholdersEquity",
        &[
            "total liabilities and stockholders equity",
            "total liabilities and shareholders equity",
            "total liabilities and equity",
            "total liabilities and stockholders deficit",
        ],
    ),
];

const CASH_FLOW: &[Entry] = &[
    (
        "NetIncomeLoss",
        &[
            "net income",
            "net loss",
            "net earnings",
            "profit for the year",
        ],
    ),
    (
        "DepreciationDepletionAndAmortization",
        &[
            "depreciation and amortization",
            "depreciation and amortisation",
            "depreciation amortization and other",
        ],
    ),
    (
        "ShareBasedCompensation",
        &[
            "stock based compensation",
            "share based compensation",
            "stock based compensation expense",
        ],
    ),
    (
        "DeferredIncomeTaxExpenseBenefit",
        &["deferred income taxes"],
    ),
    (
        "NetCashProvidedByUsedInOperatingActivities",
        &[
            "net cash provided by operating activities",
            "net cash used in operating activities",
            "net cash from operating activities",
            "cash provided by operating activities",
            "cash generated from operations",
            "net cash provided by operations",
        ],
    ),
    (
        "PaymentsToAcquirePropertyPlantAndEquipment",
        &[
            "purchases of property and equipment",
            "purchases of property plant and equipment",
            "capital expenditures",
            "additions to property and equipment",
            "payments for property and equipment",
        ],
    ),
    (
        "PaymentsToAcquireBusinessesNetOfCashAcquired",
        &[
            "acquisitions net of cash acquired",
            "acquisition of businesses net of cash acquired",
        ],
    ),
    (
        "NetCashProvidedByUsedInInvestingActivities",
        &[
            "net cash used in investing activities",
            "net cash provided by investing activities",
            "net cash from investing activities",
        ],
    ),
    (
        "PaymentsOfDividends",
        &[
            "dividends paid",
            "payment of dividends",
            "cash dividends paid",
        ],
    ),
    (
        "PaymentsForRepurchaseOfCommonStock",
        &[
            "repurchases of common stock",
            "repurchase of common stock",
            "purchases of treasury stock",
        ],
    ),
    (
        "ProceedsFromIssuanceOfLongTermDebt",
        &[
            "proceeds from issuance of long term debt",
            "proceeds from borrowings",
        ],
    ),
    (
        "RepaymentsOfLongTermDebt",
        &[
            "repayments of long term debt",
            "repayment of borrowings",
            "repayments of debt",
        ],
    ),
    (
        "NetCashProvidedByUsedInFinancingActivities",
        &[
            "net cash used in financing activities",
            "net cash provided by financing activities",
            "net cash from financing activities",
        ],
    ),
    (
        "EffectOfExchangeRateOnCashAndCashEquivalents",
        &[
            "effect of exchange rate changes on cash*",
            "effect of exchange rate on cash*",
            "effect of foreign exchange rate changes on cash*",
        ],
    ),
    (
        "CashAndCashEquivalentsPeriodIncreaseDecrease",
        &[
            "net increase in cash*",
            "net decrease in cash*",
            "net change in cash*",
            "increase in cash*",
            "decrease in cash*",
        ],
    ),
    (
        "CashAndCashEquivalentsAtBeginningOfPeriod",
        &[
            "cash and cash equivalents at beginning*",
            "cash and cash equivalents beginning*",
            "cash at beginning*",
            "cash and equivalents at beginning*",
            "beginning of year",
            "beginning of period",
        ],
    ),
    (
        "CashAndCashEquivalentsAtEndOfPeriod",
        &[
            "cash and cash equivalents at end*",
            "cash and cash equivalents end*",
            "cash at end*",
            "cash and equivalents at end*",
            "end of year",
            "end of period",
        ],
    ),
];

const COMPREHENSIVE: &[Entry] = &[
    ("NetIncomeLoss", &["net income", "net loss", "net earnings"]),
    (
        "OtherComprehensiveIncomeForeignCurrencyTransactionAndTranslationAdjustmentNetOfTax",
        &[
            "foreign currency translation adjustment",
            "foreign currency translation adjustments",
            "foreign currency translation*",
        ],
    ),
    (
        "OtherComprehensiveIncomeLossNetOfTax",
        &[
            "other comprehensive income",
            "other comprehensive loss",
            "total other comprehensive income",
            "total other comprehensive loss",
            "other comprehensive income net of tax",
            "other comprehensive loss net of tax",
            "total other comprehensive income net of tax",
        ],
    ),
    (
        "ComprehensiveIncomeNetOfTax",
        &[
            "comprehensive income",
            "comprehensive loss",
            "total comprehensive income",
            "total comprehensive loss",
        ],
    ),
];

const EQUITY: &[Entry] = &[
    ("NetIncomeLoss", &["net income", "net loss", "net earnings"]),
    (
        "OtherComprehensiveIncomeLossNetOfTax",
        &["other comprehensive income", "other comprehensive loss"],
    ),
    (
        "DividendsCommonStock",
        &[
            "dividends declared*",
            "cash dividends declared*",
            "dividends",
        ],
    ),
    (
        "StockRepurchasedDuringPeriodValue",
        &[
            "repurchases of common stock",
            "repurchase of common stock",
            "purchases of treasury stock",
        ],
    ),
    (
        "ShareBasedCompensation",
        &["stock based compensation", "share based compensation"],
    ),
    (
        "StockIssuedDuringPeriodValueNewIssues",
        &["issuance of common stock*"],
    ),
];

fn matches(normalized: &str, pattern: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => normalized.starts_with(prefix),
        None => normalized == pattern,
    }
}

/// The canonical id of a row, given its heading (for "Basic" / "Diluted").
pub fn lookup(
    normalized: &str,
    section: &str,
    statement_type: StatementType,
) -> Option<&'static str> {
    if statement_type == StatementType::IncomeStatement && section.contains("shares") {
        match normalized {
            "basic" => return Some("WeightedAverageNumberOfSharesOutstandingBasic"),
            "diluted" => return Some("WeightedAverageNumberOfDilutedSharesOutstanding"),
            _ => {}
        }
    }
    if statement_type == StatementType::IncomeStatement
        && (section.contains("per share") || section.contains("per common share"))
    {
        match normalized {
            "basic" => return Some("EarningsPerShareBasic"),
            "diluted" => return Some("EarningsPerShareDiluted"),
            _ => {}
        }
    }
    let table: &[Entry] = match statement_type {
        StatementType::IncomeStatement => INCOME,
        StatementType::BalanceSheet => BALANCE,
        StatementType::CashFlow => CASH_FLOW,
        StatementType::ComprehensiveIncome => COMPREHENSIVE,
        StatementType::Equity => EQUITY,
        StatementType::Other => return None,
    };
    // A "Total" row named after its heading ("Total" under "Revenues:").
    let normalized = if normalized == "total" && !section.is_empty() {
        return table
            .iter()
            .find(|(_, patterns)| {
                patterns
                    .iter()
                    .any(|p| matches(&format!("total {section}"), p))
            })
            .map(|(id, _)| *id);
    } else {
        normalized
    };
    table
        .iter()
        .find(|(_, patterns)| patterns.iter().any(|p| matches(normalized, p)))
        .map(|(id, _)| *id)
}

/// Rows that are subtotals of the rows above them though not named "Total".
pub fn is_subtotal(canonical: &str, statement_type: StatementType) -> bool {
    if canonical == "NetIncomeLoss" {
        return statement_type == StatementType::IncomeStatement;
    }
    matches!(
        canonical,
        "GrossProfit"
            | "OperatingIncomeLoss"
            | "IncomeLossFromContinuingOperationsBeforeIncomeTaxesExtraordinaryItemsNoncontrollingInterest"
            | "NetCashProvidedByUsedInOperatingActivities"
            | "NetCashProvidedByUsedInInvestingActivities"
            | "NetCashProvidedByUsedInFinancingActivities"
            | "CashAndCashEquivalentsPeriodIncreaseDecrease"
            | "ComprehensiveIncomeNetOfTax"
    )
}
