#!/usr/bin/env python3
"""Writes the rendered part of the statements corpus: HTML documents of financial
statements and their truth (JSON) from the same data below. The shell script
`scripts/statements-corpus.sh` renders each HTML to PDF with LibreOffice and keeps
the PDF and the truth in crates/statements/tests/corpus/pdf/.

The truth is what a reader of the page sees: each page's type, and per statement
its pages, scale, currency, periods and every line item's label and values as
printed (sign from brackets or a minus, a dash as zero). It is written from the
data, never from the parser's output.

Usage: statements_corpus.py HTML_DIR TRUTH_DIR [--filing-pages N]
"""

import html
import json
import os
import sys

# A row: (kind, label, values, indent, extra). kind: "h" heading, "r" amount row,
# "d" per-share row (two decimals), "p" percent row, "$" amount row printed with
# a dollar sign. extra: truth fields beyond label and values.


def money(value, kind, minus):
    if value is None:
        return ""
    if kind == "p":
        text = f"{abs(value):.1f}%"
    elif kind == "d":
        text = f"{abs(value):,.2f}"
    elif value == 0:
        return "—"
    else:
        text = f"{abs(value):,.0f}"
    if value < 0:
        return f"-{text}" if minus else f"({text})"
    return text


def table(rows, columns, headings, minus=False, label_width=55):
    """An HTML table: a label column, one right-aligned column per period."""
    out = ['<table width="100%" cellspacing="0" cellpadding="1">']
    for heading in headings:
        out.append(f'<tr><td width="{label_width}%"></td>')
        for cell in heading:
            out.append(f'<td align="right"><b>{html.escape(str(cell))}</b></td>')
        out.append("</tr>")
    for kind, label, values, indent, _ in rows:
        pad = "&nbsp;" * (3 * indent)
        label_html = pad + "<br>".join(
            ("&nbsp;" * 2 if i else "") + html.escape(part)
            for i, part in enumerate(label.split("\n"))
        )
        out.append(f'<tr valign="bottom"><td>{label_html}</td>')
        if kind == "h":
            out.append(f'<td colspan="{columns}"></td>')
        else:
            for value in values:
                text = money(value, kind, minus)
                if kind in ("$", "d") and value is not None:
                    text = "$ " + text
                out.append(f'<td align="right">{html.escape(text)}</td>')
        out.append("</tr>")
    out.append("</table>")
    return "\n".join(out)


def page(company, title, unit, body, notes=None, break_before=True):
    style = ' style="page-break-before: always"' if break_before else ""
    out = [
        f'<p align="center"{style}><b>{html.escape(company)}</b><br>',
        f"<b>{html.escape(title)}</b><br>{html.escape(unit)}</p>" if title else "</p>",
        body,
    ]
    if notes:
        out.append(f"<p>{html.escape(notes)}</p>")
    return "\n".join(out)


def truth_items(rows, page_number):
    items = []
    for kind, label, values, _, extra in rows:
        if kind == "h":
            continue
        item = {"label": " ".join(label.split()), "values": values, "page": page_number}
        if kind == "d":
            item["kind"] = "per_share"
        if kind == "p":
            item["kind"] = "percent"
        item.update(extra)
        items.append(item)
    return items


def document(path_html, path_truth, pages, description):
    """pages: list of (html, page_type); statements are given in the truth."""
    body = "\n".join(html_text for html_text, _ in pages[0])
    with open(path_html, "w", encoding="utf-8") as f:
        f.write(
            '<html><head><meta charset="utf-8"><style>body{font-family:"DejaVu Sans";'
            "font-size:7.5pt}</style></head><body>\n"
        )
        f.write(body)
        f.write("\n</body></html>\n")
    truth = {
        "description": description,
        "pages": [kind for _, kind in pages[0]],
        "statements": pages[1],
    }
    with open(path_truth, "w", encoding="utf-8") as f:
        json.dump(truth, f, indent=1, ensure_ascii=False)
        f.write("\n")


COMPANY = "ACME ROBOTICS, INC."
Y3 = [2023, 2022, 2021]
Y2 = [2023, 2022]

INCOME = [
    ("h", "Revenues:", None, 0, {}),
    ("$", "Products", [42310, 39870, 35120], 1, {}),
    ("r", "Services", [18455, 16200, 14010], 1, {}),
    ("r", "Total revenues", [60765, 56070, 49130], 2, {"canonical": "Revenues", "is_total": True}),
    ("r", "Cost of revenue", [25102, 23450, 21006], 0, {"canonical": "CostOfRevenue"}),
    ("r", "Gross profit", [35663, 32620, 28124], 0, {"canonical": "GrossProfit"}),
    ("h", "Operating expenses:", None, 0, {}),
    ("r", "Research and development", [9870, 9010, 8120], 1, {}),
    ("r", "Selling, general and\nadministrative", [7455, 7002, 6540], 1,
     {"canonical": "SellingGeneralAndAdministrativeExpense"}),
    ("r", "Restructuring charges", [0, 310, 0], 1, {}),
    ("r", "Total operating expenses", [17325, 16322, 14660], 2, {"is_total": True}),
    ("r", "Operating income", [18338, 16298, 13464], 0, {"canonical": "OperatingIncomeLoss"}),
    ("r", "Interest expense", [-512, -498, -455], 0, {}),
    ("r", "Other income (expense), net", [120, -35, 88], 0, {}),
    ("r", "Income before income taxes", [17946, 15765, 13097], 0, {}),
    ("r", "Provision for income taxes", [3052, 2680, 2358], 0, {}),
    ("$", "Net income", [14894, 13085, 10739], 0, {"canonical": "NetIncomeLoss"}),
    ("h", "Earnings per share:", None, 0, {}),
    ("d", "Basic", [5.96, 5.18, 4.21], 1, {"canonical": "EarningsPerShareBasic"}),
    ("d", "Diluted", [5.90, 5.12, 4.17], 1, {"canonical": "EarningsPerShareDiluted"}),
    ("h", "Weighted-average shares used in computing\nearnings per share:", None, 0, {}),
    ("r", "Basic", [2499, 2526, 2551], 1, {"kind": "amount"}),
    ("r", "Diluted", [2524, 2556, 2575], 1, {"kind": "amount"}),
]

COMPREHENSIVE = [
    ("$", "Net income", [14894, 13085, 10739], 0, {"canonical": "NetIncomeLoss"}),
    ("h", "Other comprehensive income (loss), net of tax:", None, 0, {}),
    ("r", "Foreign currency translation adjustments", [-215, -640, 120], 1, {}),
    ("r", "Unrealized gains (losses) on\navailable-for-sale securities", [310, -425, -35], 1, {}),
    ("r", "Net change in cash flow hedges", [45, 60, -12], 1, {}),
    ("r", "Total other comprehensive income (loss)", [140, -1005, 73], 2,
     {"canonical": "OtherComprehensiveIncomeLossNetOfTax"}),
    ("$", "Comprehensive income", [15034, 12080, 10812], 0, {"canonical": "ComprehensiveIncomeNetOfTax"}),
]

BALANCE = [
    ("h", "ASSETS", None, 0, {}),
    ("h", "Current assets:", None, 0, {}),
    ("$", "Cash and cash equivalents", [45210, 38900], 1,
     {"canonical": "CashAndCashEquivalentsAtCarryingValue"}),
    ("r", "Accounts receivable, net of allowance of $1,200 and $950", [22340, 19875], 1,
     {"canonical": "AccountsReceivableNetCurrent"}),
    ("r", "Inventories", [31560, 28410], 1, {}),
    ("r", "Prepaid expenses and other current assets", [4890, 5215], 1, {}),
    ("r", "Total current assets", [104000, 92400], 2, {"canonical": "AssetsCurrent"}),
    ("r", "Property and equipment, net", [58700, 54300], 0, {}),
    ("r", "Goodwill", [12500, 12500], 0, {}),
    ("r", "Other assets", [3800, 2900], 0, {}),
    ("$", "Total assets", [179000, 162100], 2, {"canonical": "Assets"}),
    ("h", "LIABILITIES AND STOCKHOLDERS' EQUITY", None, 0, {}),
    ("h", "Current liabilities:", None, 0, {}),
    ("$", "Accounts payable", [18450, 16200], 1, {}),
    ("r", "Accrued liabilities", [9330, 8750], 1, {}),
    ("r", "Current portion of long-term debt", [5000, 5000], 1, {}),
    ("r", "Total current liabilities", [32780, 29950], 2, {}),
    ("r", "Long-term debt", [40000, 45000], 0, {}),
    ("r", "Other long-term liabilities", [6220, 5150], 0, {}),
    ("r", "Total liabilities", [79000, 80100], 2, {"canonical": "Liabilities"}),
    ("h", "Stockholders' equity:", None, 0, {}),
    ("r", "Common stock and additional paid-in capital", [61600, 59000], 1, {}),
    ("r", "Retained earnings", [40100, 24600], 1, {}),
    ("r", "Accumulated other comprehensive loss", [-1700, -1600], 1, {}),
    ("r", "Total stockholders' equity", [100000, 82000], 2, {"canonical": "StockholdersEquity"}),
    ("$", "Total liabilities and stockholders' equity", [179000, 162100], 2,
     {"canonical": "LiabilitiesAndStockholdersEquity"}),
]

CASH_1 = [
    ("h", "Cash flows from operating activities:", None, 0, {}),
    ("$", "Net income", [84210, 71950], 1, {}),
    ("h", "Adjustments to reconcile net income to net\ncash provided by operating activities:", None, 1, {}),
    ("r", "Depreciation and amortization", [22400, 20115], 2, {}),
    ("r", "Stock-based compensation", [9870, 8420], 2, {}),
    ("r", "Deferred income taxes", [-1250, 2030], 2, {}),
    ("h", "Changes in operating assets and liabilities:", None, 1, {}),
    ("r", "Accounts receivable", [-6540, -4210], 2, {}),
    ("r", "Inventories", [-3115, 1870], 2, {}),
    ("r", "Accounts payable", [4980, -2345], 2, {}),
    ("r", "Accrued liabilities", [1445, 690], 2, {}),
    ("r", "Net cash provided by operating activities", [112000, 98520], 3,
     {"canonical": "NetCashProvidedByUsedInOperatingActivities"}),
    ("h", "Cash flows from investing activities:", None, 0, {}),
    ("r", "Purchases of property and equipment", [-31870, -27400], 1,
     {"canonical": "PaymentsToAcquirePropertyPlantAndEquipment"}),
    ("r", "Acquisitions, net of cash acquired", [-12500, 0], 1, {}),
    ("r", "Proceeds from sales of investments", [5230, 3980], 1, {}),
    ("r", "Net cash used in investing activities", [-39140, -23420], 3, {}),
]

CASH_2 = [
    ("h", "Cash flows from financing activities:", None, 0, {}),
    ("r", "Proceeds from issuance of long-term debt", [25000, 0], 1, {}),
    ("r", "Repayments of long-term debt", [-18750, -15000], 1, {}),
    ("r", "Repurchases of common stock", [-30000, -20000], 1, {}),
    ("r", "Dividends paid", [-14610, -12800], 1, {}),
    ("r", "Net cash used in financing activities", [-38360, -47800], 3, {}),
    ("r", "Effect of exchange rate changes on cash and\ncash equivalents", [-820, 415], 0, {}),
    ("r", "Net increase in cash and cash equivalents", [33680, 27715], 0,
     {"canonical": "CashAndCashEquivalentsPeriodIncreaseDecrease"}),
    ("r", "Cash and cash equivalents at beginning of year", [118305, 90590], 0, {}),
    ("$", "Cash and cash equivalents at end of year", [151985, 118305], 0,
     {"canonical": "CashAndCashEquivalentsAtEndOfPeriod"}),
]

EQUITY = [
    ("$", "Balance at December 31, 2022", [64849, 15200, -1450, 78599], 0, {}),
    ("r", "Net income", [0, 14894, 0, 14894], 0, {}),
    ("r", "Other comprehensive income", [0, 0, 140, 140], 0, {}),
    ("r", "Stock-based compensation", [9870, 0, 0, 9870], 0, {}),
    ("r", "Repurchases of common stock", [-2100, -12400, 0, -14500], 0, {}),
    ("r", "Dividends declared ($1.20 per share)", [0, -3000, 0, -3000], 0, {}),
    ("$", "Balance at December 31, 2023", [72619, 14694, -1310, 86003], 0, {}),
]

NOTE_TEXT = (
    "Basis of presentation. The consolidated financial statements include the accounts of "
    "the Company and its wholly owned subsidiaries. All intercompany balances and transactions "
    "have been eliminated in consolidation. The preparation of financial statements in "
    "conformity with generally accepted accounting principles requires management to make "
    "estimates and assumptions that affect the amounts reported in the financial statements "
    "and accompanying notes. Actual results could differ from those estimates."
)


def years_heading(years, span):
    return [[span] + [""] * (len(years) - 1), years]


def ten_k(note_pages=1):
    pages = []
    statements = []

    cover = (
        '<p align="center"><b>UNITED STATES<br>SECURITIES AND EXCHANGE COMMISSION</b><br>'
        "Washington, D.C. 20549</p><p align=\"center\"><b>FORM 10-K</b></p>"
        '<p align="center">ANNUAL REPORT PURSUANT TO SECTION 13 OR 15(d) OF THE SECURITIES '
        "EXCHANGE ACT OF 1934<br>For the fiscal year ended December 31, 2023<br>"
        "Commission File Number 001-12345</p>"
        f'<p align="center"><b>{COMPANY}</b><br>(Exact name of registrant as specified in its charter)</p>'
        "<p>Indicate by check mark whether the registrant is a well-known seasoned issuer, as "
        "defined in Rule 405 of the Securities Act. Yes [X] No [ ]</p>"
    )
    pages.append((cover, "other"))
    index_rows = [
        ("Report of Independent Registered Public Accounting Firm", 50),
        ("Consolidated Statements of Operations", 52),
        ("Consolidated Statements of Comprehensive Income", 53),
        ("Consolidated Balance Sheets", 54),
        ("Consolidated Statements of Cash Flows", 55),
        ("Consolidated Statements of Stockholders' Equity", 57),
        ("Notes to Consolidated Financial Statements", 58),
    ]
    index = (
        '<p align="center" style="page-break-before: always"><b>INDEX TO CONSOLIDATED FINANCIAL STATEMENTS</b></p>'
        '<table width="100%">'
        + "".join(
            f'<tr><td width="85%">{html.escape(t)}</td><td align="right">{n}</td></tr>'
            for t, n in index_rows
        )
        + "</table>"
    )
    pages.append((index, "other"))

    def statement(kind, title, unit, rows, heading, years, months, point_in_time=False, minus=False):
        number = len(pages) + 1
        body = table(rows, len(heading[-1]), heading, minus=minus)
        footer = None if kind == "balance_sheet" else "See accompanying notes to consolidated financial statements."
        pages.append((page(COMPANY, title, unit, body, footer), kind))
        statements.append({
            "statement_type": kind,
            "pages": [number],
            "scale": 1000000,
            "currency": "USD",
            "title": title,
            "periods": [
                {"end_date": f"{y}-12-31", "months": None if point_in_time else months}
                for y in years
            ] if years else None,
            "items": truth_items(rows, number),
        })
        if not years:
            del statements[-1]["periods"]

    statement("income_statement", "CONSOLIDATED STATEMENTS OF OPERATIONS",
              "(In millions, except per share amounts)", INCOME,
              years_heading(Y3, "Years Ended December 31,"), Y3, 12)
    statement("comprehensive_income", "CONSOLIDATED STATEMENTS OF COMPREHENSIVE INCOME",
              "(In millions)", COMPREHENSIVE, years_heading(Y3, "Years Ended December 31,"), Y3, 12)
    statement("balance_sheet", "CONSOLIDATED BALANCE SHEETS", "(In millions)", BALANCE,
              [["December 31,", "December 31,"], Y2], Y2, None, point_in_time=True)

    # The cash-flow statement over two pages.
    first = len(pages) + 1
    heading = years_heading(Y2, "Year Ended December 31,")
    pages.append((page(COMPANY, "CONSOLIDATED STATEMENTS OF CASH FLOWS", "(In millions)",
                       table(CASH_1, 2, heading)), "cash_flow"))
    pages.append((page(COMPANY, "CONSOLIDATED STATEMENTS OF CASH FLOWS (continued)", "(In millions)",
                       table(CASH_2, 2, heading),
                       "See accompanying notes to consolidated financial statements."), "cash_flow"))
    statements.append({
        "statement_type": "cash_flow",
        "pages": [first, first + 1],
        "scale": 1000000,
        "currency": "USD",
        "periods": [{"end_date": f"{y}-12-31", "months": 12} for y in Y2],
        "items": truth_items(CASH_1, first) + truth_items(CASH_2, first + 1),
    })

    number = len(pages) + 1
    heading = [["Common Stock and", "Retained", "Accumulated Other", ""],
               ["Additional Paid-in Capital", "Earnings", "Comprehensive Income (Loss)", "Total"]]
    pages.append((page(COMPANY, "CONSOLIDATED STATEMENTS OF STOCKHOLDERS' EQUITY", "(In millions)",
                       table(EQUITY, 4, heading, label_width=40)), "equity"))
    statements.append({
        "statement_type": "equity",
        "pages": [number],
        "scale": 1000000,
        "currency": "USD",
        "columns": 4,
        "items": truth_items(EQUITY, number),
    })

    for n in range(note_pages):
        note_table = table(
            [("$", "Land", [410, 395], 0, {}), ("r", "Buildings and improvements", [5120, 4870], 0, {}),
             ("r", "Machinery and equipment", [8940, 8310], 0, {}),
             ("r", "Less: accumulated depreciation", [-6210, -5640], 0, {}),
             ("$", "Property and equipment, net", [8260, 7935], 0, {})],
            2, [["December 31,", ""], Y2])
        notes = (
            '<p align="center" style="page-break-before: always"><b>'
            f"{COMPANY}<br>NOTES TO CONSOLIDATED FINANCIAL STATEMENTS</b></p>"
            f"<p><b>Note {n + 1}. Property and Equipment</b></p><p>{NOTE_TEXT}</p>"
            f"<p>Property and equipment consisted of the following (in millions):</p>{note_table}"
            f"<p>{NOTE_TEXT}</p>"
        )
        pages.append((notes, "other"))
    return pages, statements


QUARTER = [
    ("$", "Net sales", [81450, 74200, 236900, 215300], 0, {"canonical": "Revenues"}),
    ("r", "Cost of sales", [48870, 45260, 142140, 131330], 0, {}),
    ("r", "Gross profit", [32580, 28940, 94760, 83970], 0, {"canonical": "GrossProfit"}),
    ("r", "Selling, general and administrative", [17320, 16010, 51480, 47650], 0, {}),
    ("r", "Research and development", [6110, 5430, 17900, 15870], 0, {}),
    ("r", "Operating income", [9150, 7500, 25380, 20450], 0, {}),
    ("r", "Interest and other expense, net", [-410, -530, -1290, -1610], 0, {}),
    ("r", "Income before income taxes", [8740, 6970, 24090, 18840], 0, {}),
    ("r", "Income tax expense", [1835, 1394, 5059, 3768], 0, {}),
    ("$", "Net income", [6905, 5576, 19031, 15072], 0, {}),
    ("h", "Net income per share:", None, 0, {}),
    ("d", "Basic", [1.38, 1.12, 3.81, 3.02], 1, {}),
    ("d", "Diluted", [1.36, 1.10, 3.75, 2.98], 1, {}),
    ("p", "Gross margin", [40.0, 39.0, 40.0, 39.0], 0, {}),
]

BALANCE_THOUSANDS = [
    ("h", "Current assets:", None, 0, {}),
    ("$", "Cash", [8120, 6440], 1, {}),
    ("r", "Trade receivables", [5310, 4980], 1, {}),
    ("r", "Inventories", [7230, 6910], 1, {}),
    ("r", "Total current assets", [20660, 18330], 2, {}),
    ("r", "Property, plant and equipment, net", [30400, 29100], 0, {}),
    ("$", "Total assets", [51060, 47430], 2, {}),
    ("h", "Current liabilities:", None, 0, {}),
    ("$", "Accounts payable", [4120, 3870], 1, {}),
    ("r", "Accrued expenses", [2230, 2010], 1, {}),
    ("r", "Total current liabilities", [6350, 5880], 2, {}),
    ("r", "Long-term debt", [15000, 16000], 0, {}),
    ("r", "Total liabilities", [21350, 21880], 2, {}),
    ("h", "Shareholders' equity:", None, 0, {}),
    ("r", "Share capital", [12000, 12000], 1, {}),
    ("r", "Retained earnings", [17710, 13550], 1, {}),
    ("r", "Total shareholders' equity", [29710, 25550], 2, {}),
    ("$", "Total liabilities and shareholders' equity", [51060, 47430], 2, {}),
]


def quarterly():
    pages = []
    heading = [["Three Months Ended", "", "Nine Months Ended", ""],
               ["September 30,", "", "September 30,", ""],
               ["2024", "2023", "2024", "2023"]]
    body = table(QUARTER, 4, heading, minus=True, label_width=44)
    pages.append((page("FABRIKAM, INC.", "CONDENSED CONSOLIDATED STATEMENTS OF INCOME (UNAUDITED)",
                       "(Dollars in thousands, except per share data)", body, break_before=False),
                  "income_statement"))
    bs = table(BALANCE_THOUSANDS, 2, [["September 30, 2024", "December 31, 2023"]])
    pages.append((page("FABRIKAM, INC.", "CONDENSED CONSOLIDATED BALANCE SHEETS (UNAUDITED)",
                       "(In thousands)", bs), "balance_sheet"))
    statements = [
        {"statement_type": "income_statement", "pages": [1], "scale": 1000, "currency": "USD",
         "periods": [{"end_date": "2024-09-30", "months": 3}, {"end_date": "2023-09-30", "months": 3},
                     {"end_date": "2024-09-30", "months": 9}, {"end_date": "2023-09-30", "months": 9}],
         "items": truth_items(QUARTER, 1)},
        {"statement_type": "balance_sheet", "pages": [2], "scale": 1000, "currency": "USD",
         "periods": [{"end_date": "2024-09-30", "months": None}, {"end_date": "2023-12-31", "months": None}],
         "items": truth_items(BALANCE_THOUSANDS, 2)},
    ]
    return pages, statements


def main():
    html_dir, truth_dir = sys.argv[1], sys.argv[2]
    note_pages = 1
    if "--filing-pages" in sys.argv:
        # A long filing for the benchmark: the statements and this many note pages.
        note_pages = int(sys.argv[sys.argv.index("--filing-pages") + 1])
        pages = ten_k(note_pages)
        document(os.path.join(html_dir, "filing.html"), os.path.join(truth_dir, "filing.json"),
                 pages, f"a 10-K-style filing with {note_pages} note pages, for the benchmark")
        return
    document(os.path.join(html_dir, "ten_k.html"), os.path.join(truth_dir, "ten_k.json"), ten_k(note_pages),
             "10-K style, rendered from HTML by LibreOffice: cover, index, the five statements "
             "(income 3 years, comprehensive income, balance sheet, cash flows across two pages, "
             "stockholders' equity), a notes page; millions; brackets; wrapped labels")
    document(os.path.join(html_dir, "quarterly.html"), os.path.join(truth_dir, "quarterly.json"),
             quarterly(),
             "10-Q style, rendered from HTML by LibreOffice: three- and nine-month columns, minus "
             "signs, thousands, per-share and percentage rows; a balance sheet with two dates")


if __name__ == "__main__":
    main()
