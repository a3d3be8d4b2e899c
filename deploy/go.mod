module github.com/migsim/migsim/deploy

go 1.26.0
