//! Operator CLI: tenants, API keys and scanner credentials straight in the table.
//!
//! Uses the normal AWS configuration (profile, region, credentials), so it
//! works against a deployed table; with `AWS_ENDPOINT_URL_DYNAMODB` set it
//! works against the dev emulators.

use clap::{Parser, Subcommand};
use service::api_key::{ApiKey, ApiKeyView, Scope};
use service::aws::store::Store;
use service::scanner::{ScannerCredential, ScannerCredentialView};
use service::time::Timestamp;

#[derive(Parser)]
#[command(about = "Manage tenants and API keys in the accounts table")]
struct Cli {
    /// The table (default: $TABLE_NAME, else "accounts").
    #[arg(long, env = "TABLE_NAME", default_value = service::runtime::config::DEFAULT_TABLE_NAME)]
    table: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a key (and its tenant, if new); prints the key once.
    CreateKey {
        #[arg(long)]
        tenant: String,
        /// Comma-separated: read, write, execute, admin.
        #[arg(long, default_value = "read,write,execute,admin")]
        scopes: String,
        #[arg(long, default_value = "operator")]
        name: String,
    },
    /// List a tenant's keys (never their secrets).
    ListKeys {
        #[arg(long)]
        tenant: String,
    },
    /// Revoke a key.
    RevokeKey {
        #[arg(long)]
        tenant: String,
        #[arg(long)]
        key_id: String,
    },
    /// Create a credential for an external data source's scanner; prints it once.
    CreateScannerCredential {
        /// The data source it reports for, e.g. aws:guard-duty: an external
        /// one of this deployment's catalogue.
        #[arg(long)]
        data_source: String,
        /// The deployment's external data sources, as its functions get them.
        #[arg(long, env = "DATA_SOURCES", default_value = "")]
        data_sources: String,
        #[arg(long, default_value = "scanner")]
        name: String,
    },
    /// List scanner credentials (never their secrets).
    ListScannerCredentials,
    /// Revoke a scanner credential: its next upload is a 401.
    RevokeScannerCredential {
        #[arg(long)]
        credential_id: String,
    },
    /// Rewrite a tenant's findings so those written before the severity
    /// indexes existed enter them (once, after the deploy that adds them).
    ReindexFindings {
        #[arg(long)]
        tenant: String,
    },
}

#[tokio::main]
async fn main() {
    let cli = Cli::parse();
    if let Err(err) = run(cli).await {
        eprintln!("error: {err}");
        std::process::exit(1);
    }
}

async fn run(cli: Cli) -> service::Result<()> {
    let config = service::runtime::config::aws().await;
    let store = Store::new(aws_sdk_dynamodb::Client::new(&config), cli.table);
    match cli.command {
        Command::CreateKey {
            tenant,
            scopes,
            name,
        } => {
            let scopes = Scope::parse_list(&scopes)?;
            let issued = ApiKey::issue(&tenant, &name, scopes, "operator", None, Timestamp::now())?;
            service::usecases::api_keys::create(&store, &issued.record).await?;
            eprintln!(
                "created key {} for tenant {tenant}; store it now, it is not shown again:",
                issued.record.key_id
            );
            println!("{}", issued.token);
        }
        Command::ListKeys { tenant } => {
            let keys: Vec<ApiKeyView> = store
                .list_api_keys(&tenant)
                .await?
                .iter()
                .map(ApiKeyView::from)
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&keys).expect("keys serialise")
            );
        }
        Command::RevokeKey { tenant, key_id } => {
            store
                .revoke_api_key(&tenant, &key_id, "admin-cli", Timestamp::now())
                .await?;
            eprintln!("revoked {key_id}");
        }
        Command::CreateScannerCredential {
            data_source,
            name,
            data_sources,
        } => {
            let data_source = service::ids::DataSourceName::parse("data_source", &data_source)?;
            // A credential for a source this deployment does not forward to
            // could never report: refuse it, naming what there is.
            service::scans::Catalogue::with_external(&data_sources)?.external(&data_source)?;
            let issued = ScannerCredential::issue(&data_source, &name, Timestamp::now())?;
            store.create_scanner_credential(&issued.record).await?;
            eprintln!(
                "created scanner credential {} for {data_source}; store it now, it is not shown again:",
                issued.record.credential_id
            );
            println!("{}", issued.token);
        }
        Command::ListScannerCredentials => {
            let credentials: Vec<ScannerCredentialView> = store
                .list_scanner_credentials()
                .await?
                .iter()
                .map(ScannerCredentialView::from)
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&credentials).expect("credentials serialise")
            );
        }
        Command::ReindexFindings { tenant } => {
            let count = store.reindex_findings(&tenant).await?;
            println!("{count} findings of tenant {tenant} rewritten into the severity indexes");
        }
        Command::RevokeScannerCredential { credential_id } => {
            store.revoke_scanner_credential(&credential_id).await?;
            eprintln!("revoked {credential_id}");
        }
    }
    Ok(())
}
