namespace MemRL.Index;

public sealed partial class HnswIndex
{
    /// <summary>
    /// Structural checks for tests: degree bounds per layer, no link to a missing node or to itself, no duplicate link,
    /// links only between nodes that reach the layer, a valid entry point at the top level. Empty when the graph is sound.
    /// </summary>
    internal List<string> FindInvariantViolations()
    {
        var violations = new List<string>();
        if (_count == 0)
        {
            if (_entry != -1)
            {
                violations.Add($"empty index has entry point {_entry}");
            }

            return violations;
        }

        if (_entry < 0 || _entry >= _count)
        {
            violations.Add($"entry point {_entry} is outside [0, {_count})");
            return violations;
        }

        if (_levels[_entry] != _maxLevel)
        {
            violations.Add($"entry point {_entry} has level {_levels[_entry]}, the top level is {_maxLevel}");
        }

        for (int node = 0; node < _count; node++)
        {
            if (_levels[node] > _maxLevel)
            {
                violations.Add($"node {node} has level {_levels[node]} above the top level {_maxLevel}");
            }

            for (int layer = 0; layer <= _levels[node]; layer++)
            {
                var links = Links(node, layer);
                int capacity = layer == 0 ? _m0 : _m;
                if (links[0] < 0 || links[0] > capacity)
                {
                    violations.Add($"node {node} layer {layer} has {links[0]} links; capacity {capacity}");
                    continue;
                }

                var seen = new HashSet<int>();
                for (int i = 1; i <= links[0]; i++)
                {
                    int target = links[i];
                    if (target < 0 || target >= _count)
                    {
                        violations.Add($"node {node} layer {layer} links to missing node {target}");
                    }
                    else if (target == node)
                    {
                        violations.Add($"node {node} layer {layer} links to itself");
                    }
                    else if (_levels[target] < layer)
                    {
                        violations.Add($"node {node} layer {layer} links to node {target}, which only reaches layer {_levels[target]}");
                    }

                    if (!seen.Add(target))
                    {
                        violations.Add($"node {node} layer {layer} links to {target} twice");
                    }
                }

                if (_count > 1 && links[0] == 0 && layer == 0)
                {
                    violations.Add($"node {node} has no links on layer 0");
                }
            }
        }

        int live = 0;
        for (int node = 0; node < _count; node++)
        {
            live += _deleted[node] ? 0 : 1;
        }

        if (live != _live || _nodeOf.Count != _live)
        {
            violations.Add($"live count {_live}, live nodes {live}, id map {_nodeOf.Count}");
        }

        return violations;
    }
}
