//! `entra_directory_audits`: one row per directory audit event (`dt` = date of `activity_at`).

use arrow_schema::Field;

use super::TableDef;
use super::graph::GraphTable;
use super::graph::dsl::*;

pub static GRAPH: GraphTable = GraphTable { graph_fields, time_property: "activityDateTime", context_columns: &[] };

pub static TABLE: TableDef = TableDef {
    name: "entra_directory_audits",
    time_column: "activity_at",
    description: "Microsoft Entra ID directory audit events (changes to users, groups, apps, policies, roles)",
    unique_columns: &["id", "correlation_id", "activity_at"],
    document_columns: &[super::graph::RAW],
    schema: &SCHEMA,
};

static SCHEMA: std::sync::LazyLock<arrow_schema::SchemaRef> = std::sync::LazyLock::new(|| GRAPH.lake_schema());

fn identity() -> Vec<Field> {
    vec![s("id"), s("displayName"), s("userPrincipalName"), s("ipAddress"), s("userType"), s("homeTenantId"), s("homeTenantName")]
}

fn graph_fields() -> Vec<Field> {
    vec![
        s("id"),
        ts("activityDateTime"),
        s("activityDisplayName"),
        s("category"),
        s("operationType"),
        s("result"),
        s("resultReason"),
        s("loggedByService"),
        s("correlationId"),
        obj(
            "initiatedBy",
            vec![
                obj("user", identity()),
                obj("app", vec![s("appId"), s("displayName"), s("servicePrincipalId"), s("servicePrincipalName")]),
            ],
        ),
        list(
            "targetResources",
            vec![
                s("id"),
                s("displayName"),
                s("type"),
                s("userPrincipalName"),
                s("groupType"),
                list("modifiedProperties", vec![s("displayName"), s("oldValue"), s("newValue")]),
            ],
        ),
        list("additionalDetails", vec![s("key"), s("value")]),
    ]
}
