// Package fleet simulates many live migrations at once: a host drain, an
// evacuation, a rack move. Every migration runs on one sim engine, each
// as its own model run on a sub-engine ([sim.Engine.Sub]) that counts
// time from its start, and every pass goes over one shared network
// ([sim.FlowNetwork]): each host's NIC out and in, and the path between
// each pair of hosts, shared max-min fairly by the migrations crossing
// them, each held to its own TCP window and loss limits and caps.
//
// # Files
//
// A fleet file ([Spec], [Load]) names hosts with their NICs, VM entries
// (a count, from and to hosts, and a scenario's vm, workload and model
// keys) and a plan: how many migrations at once (across the fleet and per
// host), a cap per migration, the start order, and what to do at a
// migration's timeout. scenarios/fleets holds examples under OpenStack
// Nova's and KubeVirt's defaults.
//
// # Running
//
// [Run] runs the plan once; [Optimize] searches the order and the
// concurrency (planner.go); [Evacuate] picks one by the plan's order.
// A one-VM fleet gives the Result of `migsim run` on the same scenario:
// a migration alone on idle resources is offered their full capacity and
// planned by the path's own TCP model (net.go).
package fleet
