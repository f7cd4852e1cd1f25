# The gRPC load benchmark's helper (bench/grpc_load.sh drives arbiterd with h2load).
add_executable(grpc_frame grpc_frame.cc)
target_link_libraries(grpc_frame PRIVATE arbiter_convert arbiter_proto_messages)

# The transport's ceiling for bench/side_by_side.sh: a DecisionService that answers at once.
add_executable(noop_server noop_server.cc)
target_link_libraries(noop_server PRIVATE arbiter_proto arbiter_allocator gRPC::grpc++)
