package dep

// Hello is what the fixture prints.
func Hello() string { return "muster go1.15 fixture" }
