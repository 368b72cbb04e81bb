// The route table's plan for shared groups (src/cluster/routes.ts), without Redis: one node per
// matching group, round robin over the nodes with members (this node included), plain routes as before.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { RouteTable } from '../../src/cluster/routes.js';

void describe('RouteTable shared groups', () => {
  void it('picks one node per group in turn, this node included, and sends plain routes to every node', () => {
    const table = new RouteTable('self', 16);
    table.addLocal('$share/g/a/+');
    table.addLocal('a/#'); // this node's plain filter: served by its own router, never a target
    table.apply('n2', '$share/g/a/+', true);
    table.apply('n3', 'a/b', true);
    const chosen: string[] = [];
    for (let i = 0; i < 4; i++) {
      const plan = table.plan('a/b');
      const remote = [...(plan.serve?.entries() ?? [])];
      assert.ok(plan.nodes.includes('n3'), 'the plain route is always a target');
      assert.equal(remote.length + plan.local.size, 1, 'exactly one node serves the group');
      chosen.push(plan.local.has('$share/g/a/+') ? 'self' : remote[0]![0]);
      if (plan.local.size === 1) assert.deepEqual(plan.nodes, ['n3'], 'n2 is not sent what it does not serve');
    }
    assert.deepEqual([...chosen].sort(), ['n2', 'n2', 'self', 'self']);
    assert.notEqual(chosen[0], chosen[1]);
  });

  void it('forgets a node that left the group: its last member gone, or all its routes replaced', () => {
    const table = new RouteTable('self', 16);
    table.apply('n2', '$share/g/x', true);
    table.apply('n3', '$share/g/x', true);
    table.apply('n2', '$share/h/x', true);
    table.apply('n3', '$share/g/x', false);
    for (let i = 0; i < 3; i++) {
      const plan = table.plan('x');
      assert.deepEqual(plan.nodes, ['n2']);
      assert.deepEqual(plan.serve?.get('n2')?.sort(), ['$share/g/x', '$share/h/x'], 'both groups on the one node');
    }
    table.replaceNode('n2', []);
    assert.deepEqual(table.plan('x').nodes, []);
    assert.equal(table.reaches('x'), false);
    table.addLocal('$share/g/x');
    assert.deepEqual([...table.plan('x').local], ['$share/g/x']);
    assert.equal(table.reaches('x'), false, 'a group served here alone needs no other node');
    table.removeLocal('$share/g/x');
    assert.equal(table.plan('x').local.size, 0);
  });
});
