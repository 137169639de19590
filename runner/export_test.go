package runner

// Alive is alive, for the tests of package runner_test.
var Alive = alive
