//! `entra_signins`: one row per sign-in event (`dt` = date of `created_at`).
//!
//! Every v1.0 `signIn` property plus the beta properties people query, in Graph's order.

use std::sync::Arc;

use arrow_array::builder::StringBuilder;
use arrow_array::cast::AsArray;
use arrow_array::{Array, RecordBatch};
use arrow_schema::{ArrowError, Field};

use super::TableDef;
use super::graph::GraphTable;
use super::graph::dsl::*;

pub static GRAPH: GraphTable =
    GraphTable { graph_fields, time_property: "createdDateTime", context_columns: &["sign_in_event_type"] };

/// Sets `sign_in_event_type` from each record itself, for sign-ins that did not come from a
/// query of one event type (an import of exported files): the first of `signInEventTypes`
/// (beta), else `interactiveUser` when `isInteractive` (v1.0 returns interactive sign-ins
/// only), else `nonInteractiveUser` when it is false, else null.
pub fn event_types_from_records(batch: &RecordBatch) -> Result<RecordBatch, ArrowError> {
    let column = |name: &str| {
        batch.schema().index_of(name).map_err(|_| ArrowError::SchemaError(format!("not a sign-in batch: no {name}")))
    };
    let (types, interactive, target) = (column("sign_in_event_types")?, column("is_interactive")?, column("sign_in_event_type")?);
    let types = batch.column(types).as_list::<i32>();
    let (listed, offsets) = (types.values().as_string::<i32>(), types.value_offsets());
    let interactive = batch.column(interactive).as_boolean();
    let mut derived = StringBuilder::with_capacity(batch.num_rows(), batch.num_rows() * "nonInteractiveUser".len());
    for i in 0..batch.num_rows() {
        // The first listed type, read in place (no array per row).
        let first = offsets[i] as usize;
        let first = (types.is_valid(i) && offsets[i + 1] > offsets[i] && listed.is_valid(first)).then(|| listed.value(first));
        let by_flag =
            || interactive.is_valid(i).then(|| if interactive.value(i) { "interactiveUser" } else { "nonInteractiveUser" });
        derived.append_option(first.or_else(by_flag));
    }
    let derived = derived.finish();
    let mut columns = batch.columns().to_vec();
    columns[target] = Arc::new(derived);
    RecordBatch::try_new(batch.schema(), columns)
}

pub static TABLE: TableDef = TableDef {
    name: "entra_signins",
    time_column: "created_at",
    description: "Microsoft Entra ID sign-ins (interactive, non-interactive, service principal, managed identity)",
    unique_columns: &["id", "correlation_id", "original_request_id", "created_at"],
    document_columns: &[super::graph::RAW],
    schema: &SCHEMA,
};

static SCHEMA: std::sync::LazyLock<arrow_schema::SchemaRef> = std::sync::LazyLock::new(|| GRAPH.lake_schema());

fn graph_fields() -> Vec<Field> {
    vec![
        s("id"),
        ts("createdDateTime"),
        s("userId"),
        s("userPrincipalName"),
        s("userDisplayName"),
        s("userType"),
        s("appId"),
        s("appDisplayName"),
        s("ipAddress"),
        s("clientAppUsed"),
        s("userAgent"),
        s("correlationId"),
        s("conditionalAccessStatus"),
        b("isInteractive"),
        strings("signInEventTypes"),
        obj("status", vec![i32("errorCode"), s("failureReason"), s("additionalDetails")]),
        obj(
            "location",
            vec![
                s("city"),
                s("state"),
                s("countryOrRegion"),
                obj("geoCoordinates", vec![f64("altitude"), f64("latitude"), f64("longitude")]),
            ],
        ),
        obj(
            "deviceDetail",
            vec![
                s("deviceId"),
                s("displayName"),
                s("operatingSystem"),
                s("browser"),
                b("isCompliant"),
                b("isManaged"),
                s("trustType"),
            ],
        ),
        list(
            "appliedConditionalAccessPolicies",
            vec![s("id"), s("displayName"), strings("enforcedGrantControls"), strings("enforcedSessionControls"), s("result")],
        ),
        s("riskDetail"),
        s("riskLevelAggregated"),
        s("riskLevelDuringSignIn"),
        s("riskState"),
        strings("riskEventTypes"),
        strings("riskEventTypes_v2"),
        s("resourceDisplayName"),
        s("resourceId"),
        s("resourceTenantId"),
        s("homeTenantId"),
        s("servicePrincipalId"),
        s("servicePrincipalName"),
        obj("authenticationAppDeviceDetails", vec![s("appVersion"), s("clientApp"), s("deviceId"), s("operatingSystem")]),
        // beta
        s("authenticationRequirement"),
        strings("authenticationMethodsUsed"),
        s("authenticationProtocol"),
        list(
            "authenticationDetails",
            vec![
                s("authenticationMethod"),
                s("authenticationMethodDetail"),
                ts("authenticationStepDateTime"),
                s("authenticationStepRequirement"),
                s("authenticationStepResultDetail"),
                b("succeeded"),
            ],
        ),
        list("authenticationProcessingDetails", vec![s("key"), s("value")]),
        s("crossTenantAccessType"),
        s("tokenIssuerType"),
        s("tokenIssuerName"),
        s("appOwnerTenantId"),
        s("resourceOwnerTenantId"),
        s("alternateSignInName"),
        s("signInIdentifier"),
        s("signInIdentifierType"),
        s("sessionId"),
        s("originalRequestId"),
        i32("processingTimeInMilliseconds"),
        b("flaggedForReview"),
        b("isThroughGlobalSecureAccess"),
        s("globalSecureAccessIpAddress"),
        obj(
            "managedServiceIdentity",
            vec![s("msiType"), s("associatedResourceId"), s("federatedTokenId"), s("federatedTokenIssuer")],
        ),
        obj("mfaDetail", vec![s("authMethod"), s("authDetail")]),
    ]
}
