# Load client for the Trino endpoint (bench/trino_bench.sh drives arbiterd with it).
add_executable(trino_load trino_load.cc)
target_link_libraries(trino_load PRIVATE Threads::Threads)
target_include_directories(trino_load PRIVATE ${PROJECT_SOURCE_DIR})
