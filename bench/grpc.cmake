# The gRPC load benchmark's helper (bench/grpc_load.sh drives arbiterd with h2load).
add_executable(grpc_frame grpc_frame.cc)
target_link_libraries(grpc_frame PRIVATE arbiter_convert)
