//! With `OTEL_SDK_DISABLED=true`, step 6 is step 1 again: the whole step-1 contract passes,
//! "sends nothing over OTLP" included. (The variable is the specification's off switch; the
//! Rust SDK does not read it, `src/telemetry.rs` does.)
//! Needs Postgres, Valkey and Kafka: `make services`.

use testkit::StepBinaries;

fn binaries() -> StepBinaries {
    StepBinaries {
        user_service: env!("CARGO_BIN_EXE_step6-user-service").into(),
        email_service: env!("CARGO_BIN_EXE_step6-email-service").into(),
    }
    .with_env("OTEL_SDK_DISABLED", "true")
}

testkit::contract_tests!(binaries();
    step1::users_are_created_cached_and_read,
    step1::each_user_gets_one_event_and_one_welcome_email,
    step1::bad_input_gets_clear_json_errors,
    hostile_input::hostile_input_never_costs_a_5xx,
    step1::demo_endpoints_work,
    step1::valkey_outage_falls_back_to_postgres,
    step1::postgres_outage_fails_fast_and_recovers,
    step1::kafka_outage_keeps_users_and_events_consistent,
    step1::start_up_errors_are_clear,
    step1::shutdown_is_graceful,
    step1::shutdown_is_bounded_whatever_clients_do,
    step1::email_service_accepts_and_fails_on_demand,
    step1::logs_stay_complete_whatever_rust_log_adds,
    step1::sends_nothing_over_otlp,
    broker_faults::broker_restarted_empty_under_load_loses_no_email,
    broker_faults::broker_restarts_repeatedly_and_the_service_survives,
);
