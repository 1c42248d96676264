module github.com/golibssh/libssh

go 1.24
