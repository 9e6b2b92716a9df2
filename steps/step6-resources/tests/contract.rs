//! Step 6's contract: everything steps 1 to 5 do (`crates/testkit/src/contract/step1.rs`
//! except "sends nothing over OTLP", `step2.rs` … `step5.rs`) plus the resource of
//! `step6.rs`: one resource on every signal, the environment's overrides, two instances, a
//! SIGTERM under load. `tests/sdk_disabled.rs` runs the whole step-1 contract with
//! `OTEL_SDK_DISABLED=true`.
//! Needs Postgres, Valkey and Kafka: `make services`.

use testkit::StepBinaries;

fn binaries() -> StepBinaries {
    StepBinaries {
        user_service: env!("CARGO_BIN_EXE_step6-user-service").into(),
        email_service: env!("CARGO_BIN_EXE_step6-email-service").into(),
    }
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
    broker_faults::broker_restarted_empty_under_load_loses_no_email,
    broker_faults::broker_restarts_repeatedly_and_the_service_survives,
    step2::server_spans_follow_semantic_conventions_http,
    step2::server_spans_follow_semantic_conventions_grpc,
    step2::trace_context_and_child_spans_http,
    step2::trace_context_and_child_spans_grpc,
    step2::malformed_trace_headers_start_a_new_trace,
    step2::every_span_is_flushed_on_sigterm_http,
    step2::every_span_is_flushed_on_sigterm_grpc,
    step2::collector_outage_costs_nothing_http,
    step2::collector_outage_costs_nothing_grpc,
    step2::exporter_protocol_follows_the_environment,
    step2::cache_outage_marks_the_cache_span_failed,
    step2::nothing_personal_leaves_the_process,
    step3::one_trace_from_request_to_email,
    step3::cache_hits_and_failing_queries_are_visible,
    step3::nothing_personal_leaves_the_process_across_services,
    step3::failed_email_calls_are_client_span_errors,
    step3::messages_without_trace_headers_start_new_traces,
    step4::request_metrics_count_every_request_http,
    step4::request_metrics_count_every_request_grpc,
    step4::flow_metrics_match_what_happened_http,
    step4::flow_metrics_match_what_happened_grpc,
    step4::metric_cardinality_stays_bounded,
    step5::log_records_carry_their_request_context_http,
    step5::log_records_carry_their_request_context_grpc,
    step5::records_written_before_sigterm_arrive_http,
    step5::records_written_before_sigterm_arrive_grpc,
    step5::stdout_and_export_are_set_apart,
    step5::exporter_never_exports_its_own_logs_http,
    step5::exporter_never_exports_its_own_logs_grpc,
    step5::nothing_personal_in_any_log_record,
    step6::one_resource_on_every_signal_http,
    step6::one_resource_on_every_signal_grpc,
    step6::environment_overrides_the_resource,
    step6::sdk_disabled_sends_nothing,
    step6::instances_get_their_own_id,
    step6::sigterm_under_load_loses_nothing,
);
