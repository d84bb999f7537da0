//! External scanners report back: pages of findings, then the end of the
//! scan; and scans they never complete time out.
//!
//! A forwarded scan goes FORWARDED → RUNNING (first page) → SUCCEEDED or
//! FAILED (completion), or TIMED_OUT past its data source's deadline; its
//! attachment and regions follow. A page sent again is a no-op (its
//! findings are keyed by rule and resource, its counts kept once).

use crate::aws::store::{ExternalRefusal, PageClaim, Store};
use crate::scanner::{
    upload_in_progress, Completion, ResultsPage, ScanReference, ScannerCredential, StoredTotals,
    UploadedPage,
};
use crate::scans::{
    Catalogue, Finding, FindingTally, IgnoreLists, Scan, ScanError, ScanErrorCode, ScanStatus,
    SyncStatus,
};
use crate::time::Timestamp;
use crate::{Error, Result};
use serde::Serialize;
use utoipa::ToSchema;

/// Overdue scans timed out per sweep.
pub const TIMEOUTS_PER_RUN: usize = 500;

/// The parts reporting needs, borrowed from the composition root.
#[derive(Clone, Copy)]
pub struct ExternalScans<'a> {
    pub store: &'a Store,
    pub catalogue: &'a Catalogue,
}

/// What an upload of one page did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct UploadReceipt {
    pub scan_id: String,
    pub page: u32,
    /// Findings on the page.
    pub reported: u32,
    /// Dropped by the account's ignore lists.
    pub ignored: u32,
    /// Distinct findings the page left (stored unless `scan_only`).
    pub kept: u32,
    /// The page had been uploaded before, with these findings: nothing changed.
    pub duplicate: bool,
}

impl UploadReceipt {
    fn of(scan_id: &str, page: &UploadedPage, duplicate: bool) -> Self {
        UploadReceipt {
            scan_id: scan_id.to_string(),
            page: page.page,
            reported: page.reported,
            ignored: page.ignored,
            kept: page.kept,
            duplicate,
        }
    }
}

impl ExternalScans<'_> {
    /// The live credential a scanner token names, or `None`.
    pub async fn credential(&self, token: &str) -> Result<Option<ScannerCredential>> {
        let Some(presented) = ScannerCredential::parse_token(token) else {
            return Ok(None);
        };
        Ok(self
            .store
            .get_scanner_credential(presented.credential_id)
            .await?
            .filter(|credential| credential.accepts(presented.secret)))
    }

    /// The scan `scan_id`, if `credential` may report on it: a 404 when
    /// there is none, a 403 when it is another data source's.
    async fn reference(
        &self,
        credential: &ScannerCredential,
        scan_id: &str,
    ) -> Result<ScanReference> {
        let reference = self
            .store
            .scan_reference(scan_id)
            .await?
            .ok_or_else(|| not_found(scan_id))?;
        if reference.data_source != credential.data_source {
            return Err(Error::Forbidden(format!(
                "this scanner credential reports for {}; scan {scan_id} is not one of its scans",
                credential.data_source
            )));
        }
        Ok(reference)
    }

    /// Store one page of findings of a scan awaiting its scanner. The page
    /// is claimed before any finding is written: a page refused (another
    /// upload's, with other findings; or a scan that takes no more) writes
    /// nothing. A claimed page whose upload failed midway is finished by
    /// the next upload of the same page.
    pub async fn upload(
        &self,
        credential: &ScannerCredential,
        scan_id: &str,
        page: ResultsPage,
        fingerprint: String,
    ) -> Result<UploadReceipt> {
        let reference = self.reference(credential, scan_id).await?;
        let (uploaded, account, scan, rules) = futures::join!(
            self.store.uploaded_page(&reference, page.page),
            self.store
                .get_account(&reference.tenant, &reference.account_id),
            self.store
                .get_scan(&reference.tenant, &reference.account_id, scan_id),
            self.store.suppression_matcher(&reference.tenant),
        );
        let earlier = uploaded?;
        if let Some(earlier) = earlier.as_ref().filter(|page| page.written) {
            return same_page(scan_id, earlier, &fingerprint);
        }
        let account = account?.ok_or_else(|| not_found(scan_id))?;
        let scan_only = scan?.ok_or_else(|| not_found(scan_id))?.scan_only;
        let source = self.catalogue.require(&reference.data_source)?;
        let ignore = IgnoreLists::new(
            &account.fields.resource_type_ignore_list,
            &account.fields.resource_regex_ignore_list,
        )?;
        let number = page.page;
        let mut checked = page.findings(&reference, source.max_score, &ignore, Timestamp::now())?;
        let record = UploadedPage {
            page: number,
            fingerprint,
            reported: checked.reported,
            ignored: checked.ignored,
            kept: checked.findings.len() as u32,
            written: false,
        };
        let claimed = match earlier {
            Some(claimed) => Some(claimed),
            None => match self.store.claim_uploaded_page(&reference, &record).await? {
                PageClaim::Claimed => None,
                PageClaim::Exists(claimed) => Some(claimed),
                PageClaim::Refused(refusal) => return Err(not_awaiting(scan_id, refusal)),
            },
        };
        // Claimed before: by an upload of the same findings that did not
        // finish, this one finishes it (the writes are idempotent); else it
        // is the page as it is (a duplicate, or a conflict).
        if let Some(claimed) =
            claimed.filter(|page| page.written || page.fingerprint != record.fingerprint)
        {
            return same_page(scan_id, &claimed, &record.fingerprint);
        }
        if !scan_only {
            self.store
                .put_uploaded_findings(&reference.tenant, &mut checked.findings, &*rules?)
                .await?;
        }
        let record = UploadedPage {
            written: true,
            ..record
        };
        self.store.page_written(&reference, &record).await?;
        Ok(UploadReceipt::of(scan_id, &record, false))
    }

    /// End a scan awaiting its scanner. Completing it again the same way
    /// answers the scan as it ended; another way is a 409.
    // Long: read, decide (Completion::check_pages, end), write, and the store's refusals mapped to
    // answers; the decisions are in domain.
    pub async fn complete(
        &self,
        credential: &ScannerCredential,
        scan_id: &str,
        completion: Completion,
    ) -> Result<Scan> {
        completion.validate()?;
        let reference = self.reference(credential, scan_id).await?;
        // The scan with its attachment (one BatchGetItem): the attachment's
        // hand suppressions as read before the findings are, below.
        let (context, pages) = futures::join!(
            self.store.scan_context(
                &reference.tenant,
                &reference.account_id,
                &reference.data_source,
                Some(scan_id)
            ),
            self.store.uploaded_pages(&reference),
        );
        let context = context?;
        let attachment = context.attachment;
        let scan = context.scan.ok_or_else(|| not_found(scan_id))?;
        if scan.status == completion.ends_in() && scan.deadline_at.is_some() {
            return Ok(scan);
        }
        let pages = pages?;
        let claimed = pages.len() as u32;
        completion.check_pages(scan_id, &pages)?;
        let now = Timestamp::now();
        let mut totals = None;
        let mut resolved = Vec::new();
        let mut remaining = None;
        if !scan.scan_only {
            let stored = self
                .store
                .findings_of_source(
                    &reference.tenant,
                    &reference.account_id,
                    &reference.data_source,
                )
                .await?;
            let succeeded = completion.ends_in() == ScanStatus::Succeeded;
            let (this, kept, gone) = Finding::settle_after(stored, &scan.scan_id, succeeded, now);
            remaining = Some(
                FindingTally::of(this.iter().chain(&kept).chain(&gone))
                    .read_against(attachment.as_ref()),
            );
            totals = Some(StoredTotals {
                stored: this.len() as u32,
                resolved: gone.len() as u32,
            });
            resolved = gone;
        }
        let ending = completion.end(&scan, &pages, totals, now);
        let regions =
            ending
                .scan
                .region_results(ending.sync, &ending.message, ending.sync.code(), now);
        match self
            .store
            .finish_external_scan(
                &reference,
                &ending.scan,
                &resolved,
                &regions,
                &ending.detail,
                remaining.as_ref(),
                claimed,
            )
            .await?
        {
            Ok(()) => Ok(ending.scan),
            Err(ExternalRefusal::NotAwaiting(ended)) if ended.status == completion.ends_in() => {
                Ok(*ended)
            }
            // Still awaiting: a page was claimed since the pages were read.
            Err(ExternalRefusal::NotAwaiting(ended))
                if matches!(ended.status, ScanStatus::Forwarded | ScanStatus::Running) =>
            {
                Err(upload_in_progress(scan_id, claimed + 1))
            }
            Err(refusal) => Err(not_awaiting(scan_id, refusal)),
        }
    }

    /// Time out the scans whose deadline passed by `now`; how many.
    pub async fn time_out_overdue(&self, now: Timestamp) -> Result<usize> {
        let overdue = self
            .store
            .overdue_external_scans(now, TIMEOUTS_PER_RUN)
            .await?;
        let mut timed_out = 0;
        for reference in overdue {
            let minutes = self
                .catalogue
                .get(&reference.data_source)
                .map(|source| source.deadline_minutes)
                .unwrap_or_default();
            let error = ScanError {
                code: ScanErrorCode::Timeout,
                message: format!(
                    "the external scanner did not complete the scan within its deadline ({minutes} minutes)"
                ),
                at: now,
            };
            let message = error.message.clone();
            if self
                .store
                .time_out_external_scan(&reference, error, |scan| {
                    scan.region_results(
                        SyncStatus::TimedOut,
                        &message,
                        SyncStatus::TimedOut.code(),
                        now,
                    )
                })
                .await?
            {
                timed_out += 1;
            }
        }
        Ok(timed_out)
    }
}

fn same_page(scan_id: &str, earlier: &UploadedPage, fingerprint: &str) -> Result<UploadReceipt> {
    if earlier.fingerprint == fingerprint {
        Ok(UploadReceipt::of(scan_id, earlier, true))
    } else {
        Err(Error::Refused {
            code: "page_conflict",
            message: format!(
                "page {} of scan {scan_id} was uploaded before with other findings; a page, once uploaded, is final: send new findings as a new page",
                earlier.page
            ),
        })
    }
}

/// Completion waits for uploads under way, so that no page's findings
/// land after the scan's counts.
fn not_found(scan_id: &str) -> Error {
    Error::NotFound {
        resource: "scan",
        id: scan_id.to_string(),
    }
}

fn not_awaiting(scan_id: &str, refusal: ExternalRefusal) -> Error {
    match refusal {
        ExternalRefusal::Gone => not_found(scan_id),
        ExternalRefusal::NotAwaiting(scan) => Error::Refused {
            code: "scan_not_awaiting_results",
            message: format!(
                "scan {scan_id} is {}: it takes no more results",
                scan.status.as_str()
            ),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usecases::offline::OfflineStore;

    /// A token that is not a scanner credential's costs no read: only a
    /// well-formed one is looked up.
    #[tokio::test]
    async fn a_token_that_is_not_a_credential_is_refused_without_a_read() {
        let offline = OfflineStore::new();
        let catalogue = Catalogue::default();
        let scans = ExternalScans {
            store: &offline.store,
            catalogue: &catalogue,
        };
        for token in ["", "Bearer x", "not-a-token", &"a".repeat(10_000)] {
            assert!(scans.credential(token).await.unwrap().is_none(), "{token}");
        }
        assert_eq!(offline.calls(), 0);
    }
}
