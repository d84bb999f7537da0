//! CSV import and export of accounts (the Carbon Black format).
//!
//! Columns: `accountId,accountName,accountOwnerName,accountOwnerEmail,
//! environment,credentialRoleArn,regions` (regions separated by `;` or
//! `|`), optional `parentAccountId`. Export writes one row per account and
//! region plus verification columns; import merges rows of one account that
//! differ only in their region, so an export imports back as it was.

use crate::account::{Account, AccountFields, Environment};
use crate::trust::VerificationCode;
use crate::{Error, Result};
use serde::Deserialize;
use std::collections::HashMap;

pub const MAX_ROWS: usize = 10_000;
pub const COLUMNS: [&str; 8] = [
    "accountId",
    "accountName",
    "accountOwnerName",
    "accountOwnerEmail",
    "environment",
    "credentialRoleArn",
    "regions",
    "parentAccountId",
];
pub const REQUIRED: usize = 7;
const VERIFICATION_COLUMNS: [&str; 5] = [
    "externalId",
    "verificationStatus",
    "verificationCode",
    "lastVerifiedAt",
    "verificationMessage",
];

/// What a spreadsheet takes for the start of a formula (the OWASP
/// CSV-injection list): an exported cell starting with one of these, after
/// any run of `'`, gets one more `'` in front, which spreadsheets show as
/// text. Import removes exactly that `'`, so export -> import round-trips
/// every value, and a hand-written `'text` (no formula after the quotes)
/// is kept as it is.
const FORMULA_STARTS: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

fn looks_like_formula(value: &str) -> bool {
    value.trim_start_matches('\'').starts_with(FORMULA_STARTS)
}

/// A value as an exported cell: inert in a spreadsheet.
pub fn neutralise(value: &str) -> std::borrow::Cow<'_, str> {
    if looks_like_formula(value) {
        format!("'{value}").into()
    } else {
        value.into()
    }
}

/// An imported cell as the value it was exported from.
pub fn restore(cell: &str) -> &str {
    match cell.strip_prefix('\'') {
        Some(rest) if looks_like_formula(cell) => rest,
        _ => cell,
    }
}

/// The header row of the import template.
pub fn template() -> String {
    let mut template = format!("{}\r\n", COLUMNS.join(","));
    for line in TEMPLATE_NOTES {
        template.push_str(line);
        template.push_str("\r\n");
    }
    template
}

/// What the template says below its header: lines starting with `#` are
/// skipped on import, so the file imports as it comes (nothing), and an
/// example row is one `#` away from imported.
const TEMPLATE_NOTES: [&str; 6] = [
    "# Lines starting with # are skipped. An example row (remove the # to import it):",
    "# 123456789012,Payments prod,Payments team,payments@example.com,PROD,arn:aws:iam::123456789012:role/AccountOnboardingAudit,us-east-1;eu-west-1,210987654321",
    "# accountId: 12 digits (required). accountName: 1-128 characters (required). accountOwnerEmail: an email address or empty.",
    "# environment: DEV, STAGING, TEST, PROD or empty. regions: region ids separated by ; or | (one partition), or empty.",
    "# credentialRoleArn: the role to assume, or empty for the role the onboarding page creates. parentAccountId: 12 digits or empty.",
    "# Up to 10000 rows. An account already registered is updated with its row (its labels, which have no column, are kept).",
];

/// One account to import, from one or more rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    /// The (first) row it came from; the header is row 1 (comment lines,
    /// starting with `#`, are not counted).
    pub row: usize,
    pub account_id: String,
    pub fields: AccountFields,
}

pub use crate::error::RowError;

fn column_of(field: &str) -> &'static str {
    match field.split(['[', '.']).next().unwrap_or(field) {
        "account_id" => "accountId",
        "name" => "accountName",
        "owner_name" => "accountOwnerName",
        "owner_email" => "accountOwnerEmail",
        "environment" => "environment",
        "role_arn" => "credentialRoleArn",
        "regions" => "regions",
        "parent_account_id" => "parentAccountId",
        _ => "row",
    }
}

fn file_error(message: impl Into<String>) -> Error {
    Error::invalid_with_code("invalid_csv", "body", message)
}

/// One row as read: each cell trimmed, an export's formula guard removed
/// ([`restore`]), an empty cell absent. Columns are found by header name;
/// others (an export's verification columns) are ignored.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CsvRow {
    #[serde(default, deserialize_with = "cell")]
    account_id: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    account_name: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    account_owner_name: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    account_owner_email: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    environment: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    credential_role_arn: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    regions: Option<String>,
    #[serde(default, deserialize_with = "cell")]
    parent_account_id: Option<String>,
}

fn cell<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    let value = restore(text.trim());
    Ok((!value.is_empty()).then(|| value.to_string()))
}

/// Parse and check a whole file. File-level problems (no header, missing
/// columns, too many rows) are an error; row-level ones are listed.
pub fn parse(bytes: &[u8]) -> Result<(Vec<ImportRow>, Vec<RowError>)> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .flexible(false)
        .comment(Some(b'#'))
        .from_reader(bytes);
    let headers = header_of(&mut reader)?;
    let mut imports = Imports::default();
    for (index, record) in reader.records().enumerate() {
        if index >= MAX_ROWS {
            return Err(file_error(format!(
                "the file has more than {MAX_ROWS} rows; split it"
            )));
        }
        // Rows count from the header (1), comment lines not counted.
        match row_of(index + 2, record, &headers) {
            Ok(import) => imports.add(import),
            Err(problems) => imports.errors.extend(problems),
        }
    }
    Ok(imports.finish())
}

/// The header row, trimmed: each column once, the required ones present.
fn header_of(reader: &mut csv::Reader<&[u8]>) -> Result<csv::StringRecord> {
    let headers: csv::StringRecord = reader
        .headers()
        .map_err(|err| file_error(format!("the header row cannot be read: {err}")))?
        .iter()
        .map(str::trim)
        .collect();
    let mut position: HashMap<&str, usize> = HashMap::new();
    for (index, name) in headers.iter().enumerate() {
        if let Some(previous) = position.insert(name, index) {
            return Err(file_error(format!(
                "the header names column '{}' twice (columns {} and {}); keep one",
                crate::validation::echo(name),
                previous + 1,
                index + 1
            )));
        }
    }
    let missing: Vec<&str> = COLUMNS[..REQUIRED]
        .iter()
        .copied()
        .filter(|c| !position.contains_key(c))
        .collect();
    if !missing.is_empty() {
        return Err(file_error(format!(
            "missing columns: {}; the header must be {} (GET /v1/accounts/import-template)",
            missing.join(", "),
            COLUMNS.join(",")
        )));
    }
    Ok(headers)
}

/// One row as an account's fields, or every problem it has.
// Long: one row's cells to fields, each column's problem named at its cell.
fn row_of(
    row: usize,
    record: std::result::Result<csv::StringRecord, csv::Error>,
    headers: &csv::StringRecord,
) -> std::result::Result<ImportRow, Vec<RowError>> {
    let unreadable = |message: String| {
        vec![RowError {
            row,
            account_id: None,
            column: "row".into(),
            message,
        }]
    };
    let record = record.map_err(|err| {
        unreadable(match err.kind() {
            csv::ErrorKind::UnequalLengths { len, expected_len, .. } => format!(
                "the row has {len} fields but the header has {expected_len}: check its commas and quotes"
            ),
            _ => format!("the row cannot be read: {err}"),
        })
    })?;
    let cells: CsvRow = record
        .deserialize(Some(headers))
        .map_err(|err| unreadable(format!("the row cannot be read: {err}")))?;
    let account_id = cells.account_id.unwrap_or_default();
    let error = |column: &str, message: String| RowError {
        row,
        account_id: (!account_id.is_empty()).then(|| account_id.clone()),
        column: column.to_string(),
        message,
    };
    if let Err(Error::Invalid { message, .. }) =
        crate::validation::account_id("accountId", &account_id)
    {
        return Err(vec![error("accountId", message)]);
    }
    let environment = match cells
        .environment
        .map(|e| (Environment::parse(&e.to_uppercase()), e))
    {
        None => None,
        Some((Some(env), _)) => Some(env),
        Some((None, text)) => {
            return Err(vec![error(
                "environment",
                format!(
                    "'{}' is not DEV, STAGING, TEST or PROD",
                    crate::validation::echo(&text)
                ),
            )]);
        }
    };
    let regions = cells
        .regions
        .map(|text| {
            text.split([';', '|'])
                .map(str::trim)
                .filter(|r| !r.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let fields = AccountFields {
        name: cells.account_name.unwrap_or_default(),
        owner_name: cells.account_owner_name,
        owner_email: cells.account_owner_email,
        environment,
        regions,
        role_arn: cells.credential_role_arn,
        parent_account_id: cells.parent_account_id,
        ..Default::default()
    };
    // Every problem of the row, each naming its column.
    fields.validate(&account_id).map_err(|refused| {
        refused
            .problems()
            .into_iter()
            .map(|(_, field, message)| error(column_of(field.unwrap_or("")), message))
            .collect::<Vec<_>>()
    })?;
    Ok(ImportRow {
        row,
        account_id,
        fields,
    })
}

/// The rows read so far, one per account: an export writes an account
/// once per region, so rows of one account that differ only in their
/// region are merged; rows that differ otherwise are refused, all of them
/// (which is right cannot be guessed).
#[derive(Default)]
struct Imports {
    rows: Vec<ImportRow>,
    errors: Vec<RowError>,
    first_row_of: HashMap<String, usize>,
    /// Account ids on rows that disagree, and their first row.
    conflicted: HashMap<String, usize>,
}

impl Imports {
    fn add(&mut self, import: ImportRow) {
        let Some(&at) = self.first_row_of.get(&import.account_id) else {
            self.first_row_of
                .insert(import.account_id.clone(), self.rows.len());
            self.rows.push(import);
            return;
        };
        let earlier = &mut self.rows[at];
        let but_regions = |fields: &AccountFields| AccountFields {
            regions: Vec::new(),
            ..fields.clone()
        };
        if but_regions(&earlier.fields) == but_regions(&import.fields) {
            for region in import.fields.regions {
                if !earlier.fields.regions.contains(&region) {
                    earlier.fields.regions.push(region);
                }
            }
            return;
        }
        let (first, account_id) = (earlier.row, import.account_id);
        self.conflicted.entry(account_id.clone()).or_insert(first);
        self.errors.push(RowError {
            row: import.row,
            account_id: Some(account_id.clone()),
            column: "accountId".into(),
            message: format!("accountId {account_id} is also on row {first} with other values; keep one row per account (rows may differ only in their region)"),
        });
    }

    /// The rows to import and every problem, by row.
    fn finish(mut self) -> (Vec<ImportRow>, Vec<RowError>) {
        let (conflicted, errors) = (&self.conflicted, &mut self.errors);
        self.rows.retain(|import| match conflicted.get(&import.account_id) {
            Some(&first) => {
                errors.push(RowError {
                    row: first,
                    account_id: Some(import.account_id.clone()),
                    column: "accountId".into(),
                    message: format!(
                        "accountId {} appears again below with other values; keep one row per account",
                        import.account_id
                    ),
                });
                false
            }
            None => true,
        });
        // Merged regions must still be valid together.
        self.rows
            .retain(|import| match import.fields.validate(&import.account_id) {
                Ok(()) => true,
                Err(refused) => {
                    for (_, field, message) in refused.problems() {
                        errors.push(RowError {
                            row: import.row,
                            account_id: Some(import.account_id.clone()),
                            column: column_of(field.unwrap_or("")).into(),
                            message,
                        });
                    }
                    false
                }
            });
        self.errors.sort_by_key(|e| e.row);
        (self.rows, self.errors)
    }
}

/// CSV of accounts: one row per account and region (one row if it has
/// none), the import columns then the verification columns.
pub fn export(accounts: &[Account]) -> Result<String> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let header: Vec<&str> = COLUMNS
        .iter()
        .chain(VERIFICATION_COLUMNS.iter())
        .copied()
        .collect();
    writer
        .write_record(&header)
        .map_err(crate::error::store_error)?;
    for account in accounts {
        let fields = &account.fields;
        let credential = &account.credential;
        let regions: Vec<&str> = if fields.regions.is_empty() {
            vec![""]
        } else {
            fields.regions.iter().map(String::as_str).collect()
        };
        for region in regions {
            let last_verified = credential
                .last_verified_at
                .map(|t| t.to_string())
                .unwrap_or_default();
            let cells = [
                account.account_id.as_str(),
                &fields.name,
                fields.owner_name.as_deref().unwrap_or(""),
                fields.owner_email.as_deref().unwrap_or(""),
                fields.environment.map(Environment::as_str).unwrap_or(""),
                fields.role_arn.as_deref().unwrap_or(""),
                region,
                fields.parent_account_id.as_deref().unwrap_or(""),
                &account.external_id,
                credential.verification_status.as_str(),
                credential
                    .verification_code
                    .map(VerificationCode::as_str)
                    .unwrap_or(""),
                &last_verified,
                credential.verification_message.as_deref().unwrap_or(""),
            ];
            writer
                .write_record(cells.map(neutralise).iter().map(|c| c.as_bytes()))
                .map_err(crate::error::store_error)?;
        }
    }
    let bytes = writer.into_inner().map_err(crate::error::store_error)?;
    String::from_utf8(bytes).map_err(crate::error::store_error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;

    const HEADER: &str = "accountId,accountName,accountOwnerName,accountOwnerEmail,environment,credentialRoleArn,regions";

    #[test]
    fn bom_crlf_quotes_and_separators() {
        let file = format!("\u{feff}{HEADER}\r\n123456789012,\"Prod, main\",Ops,ops@example.com,prod,arn:aws:iam::123456789012:role/R,us-east-1;eu-west-1|eu-west-2\r\n");
        let (rows, errors) = parse(file.as_bytes()).unwrap();
        assert_eq!(errors, []);
        assert_eq!(rows[0].fields.name, "Prod, main");
        assert_eq!(rows[0].fields.environment, Some(Environment::Prod));
        assert_eq!(
            rows[0].fields.regions,
            ["us-east-1", "eu-west-1", "eu-west-2"]
        );
        assert_eq!(rows[0].row, 2);
    }

    #[test]
    fn row_errors_name_row_and_column() {
        let file = format!(
            "{HEADER},parentAccountId\n12345,A,,,,,,\n123456789012,B,,,QA,,,\n123456789013,C,,,,,mars-1,\n123456789014,D,,,,,,\n123456789014,D2,,,,,,\n123456789015,E,,bad-email,,,,\n123456789016,\"F,,,,,,\n"
        );
        let (rows, errors) = parse(file.as_bytes()).unwrap();
        let got: Vec<(usize, &str)> = errors.iter().map(|e| (e.row, e.column.as_str())).collect();
        assert_eq!(
            got,
            [
                (2, "accountId"),
                (3, "environment"),
                (4, "regions"),
                (5, "accountId"),
                (6, "accountId"),
                (7, "accountOwnerEmail"),
                (8, "row")
            ]
        );
        assert!(
            rows.is_empty(),
            "neither of two disagreeing rows is imported: {rows:?}"
        );
    }

    #[test]
    fn file_errors() {
        assert!(parse(b"accountId,accountName\n1,2\n").is_err());
        let mut big = format!("{HEADER}\n");
        for i in 0..=MAX_ROWS {
            big.push_str(&format!("{:012},n,,,,,\n", i));
        }
        assert!(parse(big.as_bytes()).is_err());
    }

    #[test]
    fn exported_formulas_are_inert_and_import_back() {
        let fields = AccountFields {
            name: "=2+5+cmd|' /C calc'!A0".into(),
            owner_name: Some("@SUM(A1)".into()),
            ..Default::default()
        };
        let account =
            Account::register("123456789012".into(), fields.clone(), "k", Timestamp::now());
        let text = export(&[account]).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.contains(",'=2+5+cmd|' /C calc'!A0,") && row.contains(",'@SUM(A1),"),
            "{row}"
        );
        let mut reader = csv::Reader::from_reader(text.as_bytes());
        for record in reader.records() {
            for cell in record.unwrap().iter() {
                assert!(
                    !cell.starts_with(FORMULA_STARTS),
                    "live formula cell {cell:?}"
                );
            }
        }
        let (rows, errors) = parse(text.as_bytes()).unwrap();
        assert_eq!(errors, []);
        assert_eq!(rows[0].fields, fields);
        for value in ["'=x", "''-1", "'plain", "a=b", "-", "''", "@"] {
            assert_eq!(restore(&neutralise(value)), value, "{value}");
        }
        assert_eq!(restore("'plain"), "'plain", "a hand-written quote stays");
    }

    #[test]
    fn a_repeated_header_column_is_refused() {
        let text = format!("{HEADER},accountName\r\n");
        let err = parse(text.as_bytes()).unwrap_err();
        assert!(err.to_string().contains("'accountName' twice"), "{err}");
    }

    #[test]
    fn export_then_import_round_trips() {
        let fields = AccountFields {
            name: "Prod, \"main\"".into(),
            owner_name: Some("Ops".into()),
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            parent_account_id: Some("210987654321".into()),
            environment: Some(Environment::Test),
            ..Default::default()
        };
        let account =
            Account::register("123456789012".into(), fields.clone(), "k", Timestamp::now());
        let bare = Account::register(
            "123456789013".into(),
            AccountFields {
                name: "Bare".into(),
                ..Default::default()
            },
            "k",
            Timestamp::now(),
        );
        let text = export(&[account, bare]).unwrap();
        assert_eq!(
            text.lines().count(),
            4,
            "a row per region, one for none, and the header"
        );
        let (rows, errors) = parse(text.as_bytes()).unwrap();
        assert_eq!(errors, []);
        assert_eq!(rows[0].fields, fields);
        assert_eq!(rows[1].fields.name, "Bare");
    }
}
