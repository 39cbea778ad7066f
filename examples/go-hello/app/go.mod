module example.com/kettle-go-hello

go 1.21
