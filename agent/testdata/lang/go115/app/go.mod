module example.com/muster-go115-fixture

go 1.15

require example.com/dep v1.2.3

replace example.com/dep => ../dep
