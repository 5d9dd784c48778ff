package lineage.neo4j;

import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Stream;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;

import org.neo4j.graphdb.Direction;
import org.neo4j.graphdb.Transaction;
import org.neo4j.internal.kernel.api.CursorFactory;
import org.neo4j.internal.kernel.api.NodeCursor;
import org.neo4j.internal.kernel.api.PropertyCursor;
import org.neo4j.internal.kernel.api.Read;
import org.neo4j.internal.kernel.api.RelationshipTraversalCursor;
import org.neo4j.internal.kernel.api.TokenRead;
import org.neo4j.io.pagecache.context.CursorContext;
import org.neo4j.kernel.api.KernelTransaction;
import org.neo4j.kernel.impl.coreapi.InternalTransaction;
import org.neo4j.memory.MemoryTracker;
import org.neo4j.storageengine.api.PropertySelection;
import org.neo4j.storageengine.api.RelationshipSelection;
import org.neo4j.values.ElementIdMapper;
import org.neo4j.values.storable.TextValue;
import org.neo4j.values.storable.Value;
import org.neo4j.procedure.Context;
import org.neo4j.procedure.Description;
import org.neo4j.procedure.Mode;
import org.neo4j.procedure.Name;
import org.neo4j.procedure.Procedure;

/**
 * {@code lineage.walk}: lineage's breadth-first walk from one node, in one call.
 *
 * <p>The same walk as the Python store's Cypher one ({@code Neo4jStore._closure}), level by
 * level, with the same answer: the frontier goes in key order (by code point), so a node's
 * parent is the reached node of the previous level with the smallest key, then the edge
 * type of smallest rank (the order of {@code types}); a node is reached once (cycles end);
 * nothing beyond {@code maxDepth} is reached, and {@code truncated} says whether the bound
 * cut an edge to a node not reached. With {@code skipDeleted}, a node whose {@code
 * properties} JSON says {@code "lifecycle": "deleted"} is cut (never a row, never
 * expanded); deleted and deprecated nodes met are listed in {@code retiredKeys}/{@code
 * retiredStates}.
 *
 * <p>Why a procedure: a Cypher walk runs one query per level whose per-row costs (an
 * element-id seek per frontier node, an aggregation per far node) made a 28,000-node hub
 * walk ~2.2x the plainest variable-length Cypher query; here each level is a loop over
 * the kernel's relationship chains. The Python store uses it when the server has it and
 * falls back to its Cypher walk otherwise, with the same answers (tested).
 */
public final class Walk {
    private static final ObjectMapper JSON = new ObjectMapper();

    @Context
    public Transaction tx;

    /** One record: the rows in walk order, as parallel lists. */
    public static final class Rows {
        public List<String> keys;
        public List<String> kinds;
        public List<String> names;
        public List<Long> depths;
        /** each row's parent row (-1: the start) */
        public List<Long> parents;
        /** the rank (index into {@code types}) of the edge from the parent */
        public List<Long> ranks;
        public List<String> ids;
        public boolean truncated;
        public List<String> retiredKeys;
        public List<String> retiredStates;
    }

    /** A far node of a level: the smallest (frontier index * 32 + rank) reaching it. */
    private static final class Far {
        final long node;
        final String key;
        final String kind;
        final String name;
        long code;

        Far(long node, String key, String kind, String name, long code) {
            this.node = node;
            this.key = key;
            this.kind = kind;
            this.name = name;
            this.code = code;
        }
    }

    /** A node lineage does not own (no LineageNode label): never a row, as in Cypher. */
    private static final Far FOREIGN = new Far(-1, null, null, null, 0);

    @Procedure(name = "lineage.walk", mode = Mode.READ)
    @Description("lineage.walk(startElementId, outgoing, maxDepth, types, skipDeleted): "
            + "lineage's breadth-first walk in one record of parallel lists")
    public Stream<Rows> walk(@Name("start") String startId, @Name("outgoing") boolean outgoing,
                             @Name("maxDepth") long maxDepth, @Name("types") List<String> types,
                             @Name("skipDeleted") boolean skipDeleted) {
        if (types.size() >= 32) {
            throw new IllegalArgumentException("at most 31 relationship types (rank < 32)");
        }
        // The kernel's cursors, not the core API: a node or property read through the core
        // API allocates cursors each call, which cost 3-4x the walk itself at a hub.
        InternalTransaction itx = (InternalTransaction) tx;
        KernelTransaction ktx = itx.kernelTransaction();
        ElementIdMapper elementIds = itx.elementIdMapper();
        Read read = ktx.dataRead();
        TokenRead tokens = ktx.tokenRead();
        CursorFactory cursors = ktx.cursors();
        CursorContext context = ktx.cursorContext();
        MemoryTracker memory = ktx.memoryTracker();
        int label = tokens.nodeLabel("LineageNode");
        int keyToken = tokens.propertyKey("key");
        int kindToken = tokens.propertyKey("kind");
        int nameToken = tokens.propertyKey("name");
        int propertiesToken = tokens.propertyKey("properties");
        Map<Integer, Integer> rank = new HashMap<>();  // relationship type token -> rank
        for (int i = 0; i < types.size(); i++) {
            int token = tokens.relationshipType(types.get(i));
            if (token >= 0) {  // a type never written has no token
                rank.put(token, i);
            }
        }
        int[] typeTokens = rank.keySet().stream().mapToInt(Integer::intValue).toArray();
        RelationshipSelection selection = RelationshipSelection.selection(
                typeTokens, outgoing ? Direction.OUTGOING : Direction.INCOMING);
        PropertySelection identity = PropertySelection.selection(keyToken, kindToken, nameToken);
        PropertySelection propertiesOnly = PropertySelection.selection(propertiesToken);

        Rows out = new Rows();
        out.keys = new ArrayList<>();
        out.kinds = new ArrayList<>();
        out.names = new ArrayList<>();
        out.depths = new ArrayList<>();
        out.parents = new ArrayList<>();
        out.ranks = new ArrayList<>();
        out.ids = new ArrayList<>();
        out.retiredKeys = new ArrayList<>();
        out.retiredStates = new ArrayList<>();
        try (NodeCursor node = cursors.allocateNodeCursor(context, memory);
             RelationshipTraversalCursor rels = cursors.allocateRelationshipTraversalCursor(context, memory);
             PropertyCursor props = cursors.allocatePropertyCursor(context, memory)) {
            long start = elementIds.nodeId(startId);
            String startKey = identity(read, node, props, start, label, identity, keyToken,
                                       kindToken, nameToken, "?").key;
            Set<String> reached = new HashSet<>();
            reached.add(startKey);
            Set<String> cut = new HashSet<>();
            long[] frontier = {start};
            int base = -1;  // the frontier's first row (-1: the start)
            long depth = 0;
            while (frontier.length > 0) {
                Map<Long, Far> far = new LinkedHashMap<>();
                for (int i = 0; i < frontier.length; i++) {
                    if (typeTokens.length == 0) {
                        break;
                    }
                    read.singleNode(frontier[i], node);
                    if (!node.next()) {
                        continue;
                    }
                    node.relationships(rels, selection);
                    while (rels.next()) {
                        long code = (long) i * 32 + rank.get(rels.type());
                        long b = rels.otherNodeReference();
                        Far known = far.get(b);
                        if (known == null) {
                            // its key, kind and name are read below: the node cursor is busy
                            far.put(b, new Far(b, null, null, null, code));
                        } else if (code < known.code) {
                            known.code = code;
                        }
                    }
                }
                List<Far> fresh = new ArrayList<>();
                for (Map.Entry<Long, Far> e : far.entrySet()) {
                    Far f = identity(read, node, props, e.getKey(), label, identity,
                                     keyToken, kindToken, nameToken, startKey);
                    if (f == FOREIGN || reached.contains(f.key) || cut.contains(f.key)) {
                        continue;
                    }
                    f.code = e.getValue().code;
                    fresh.add(f);
                }
                if (depth == maxDepth) {
                    // an edge leaving the deepest level to a node not reached: the bound cut it
                    for (Far f : fresh) {
                        if (!skipDeleted || !"deleted".equals(
                                lifecycle(read, node, props, f.node, propertiesOnly))) {
                            out.truncated = true;
                            break;
                        }
                    }
                    break;
                }
                if (skipDeleted) {
                    List<Far> live = new ArrayList<>();
                    for (Far f : fresh) {
                        String state = lifecycle(read, node, props, f.node, propertiesOnly);
                        if ("deleted".equals(state) || "deprecated".equals(state)) {
                            out.retiredKeys.add(f.key);
                            out.retiredStates.add(state);
                            if ("deleted".equals(state)) {
                                cut.add(f.key);
                                continue;
                            }
                        }
                        live.add(f);
                    }
                    fresh = live;
                }
                depth += 1;
                fresh.sort((x, y) -> compareCodePoints(x.key, y.key));
                int at = out.keys.size();
                long[] next = new long[fresh.size()];
                int k = 0;
                for (Far f : fresh) {
                    reached.add(f.key);
                    out.keys.add(f.key);
                    out.kinds.add(f.kind);
                    out.names.add(f.name);
                    out.depths.add(depth);
                    out.parents.add(base < 0 ? -1L : base + (f.code >> 5));
                    out.ranks.add(f.code & 31);
                    out.ids.add(elementIds.nodeElementId(f.node));
                    next[k++] = f.node;
                }
                frontier = next;
                base = at;
            }
        }
        return Stream.of(out);
    }

    /** The node's key, kind and name (FOREIGN without the LineageNode label); an error
     *  when lineage's node lacks one (lineage writes them on every node it stores). */
    private static Far identity(Read read, NodeCursor node, PropertyCursor props, long id,
                                int label, PropertySelection selection, int keyToken,
                                int kindToken, int nameToken, String from) {
        read.singleNode(id, node);
        if (!node.next() || !node.hasLabel(label)) {
            return FOREIGN;
        }
        String key = null;
        String kind = null;
        String name = null;
        node.properties(props, selection);
        while (props.next()) {
            Value value = props.propertyValue();
            String text = value instanceof TextValue ? ((TextValue) value).stringValue() : null;
            int token = props.propertyKey();
            if (token == keyToken) {
                key = text;
            } else if (token == kindToken) {
                kind = text;
            } else if (token == nameToken) {
                name = text;
            }
        }
        if (key == null || kind == null || name == null) {
            throw new IllegalStateException("a LineageNode node reached from '" + from
                    + "' lacks its key, kind or name; lineage writes them on every node it "
                    + "stores");
        }
        return new Far(id, key, kind, name, 0);
    }

    /** The node's lifecycle state from its properties JSON, or null. */
    private static String lifecycle(Read read, NodeCursor node, PropertyCursor props, long id,
                                    PropertySelection selection) {
        read.singleNode(id, node);
        if (!node.next()) {
            return null;
        }
        node.properties(props, selection);
        String text = null;
        while (props.next()) {
            Value value = props.propertyValue();
            text = value instanceof TextValue ? ((TextValue) value).stringValue() : null;
        }
        if (text == null || !text.contains("lifecycle")) {
            return null;
        }
        try {
            JsonNode value = JSON.readTree(text).get("lifecycle");
            return value != null && value.isTextual() ? value.asText() : null;
        } catch (java.io.IOException e) {
            return null;
        }
    }

    /** Python's string order (by code point), not Java's (by UTF-16 unit). */
    static int compareCodePoints(String x, String y) {
        int i = 0;
        int j = 0;
        while (i < x.length() && j < y.length()) {
            int a = x.codePointAt(i);
            int b = y.codePointAt(j);
            if (a != b) {
                return Integer.compare(a, b);
            }
            i += Character.charCount(a);
            j += Character.charCount(b);
        }
        return Integer.compare(x.length() - i, y.length() - j);
    }
}
