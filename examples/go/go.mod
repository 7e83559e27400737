module mdmlink.example/mdmlink

go 1.19
