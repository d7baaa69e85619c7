module wasmqe.dev/udf

go 1.24
