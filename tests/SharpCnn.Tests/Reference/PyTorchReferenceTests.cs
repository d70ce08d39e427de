using SharpCnn.Layers;
using SharpCnn.Losses;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Reference;

/// <summary>
/// Every golden case from PyTorch (float64) must match forward and all gradients:
/// max |ours - theirs| / max |theirs| ≤ 1e-9 in double and ≤ 1e-4 in float, per tensor.
/// </summary>
public class PyTorchReferenceTests
{
    public static TheoryData<string> Cases => new(ReferenceCase.Names);

    [Fact]
    public void AllSeventeenCasesAreHere() => Assert.Equal(17, ReferenceCase.Names.Count());

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesInDouble(string name) => Compare<double>(name, 1e-9);

    [Theory]
    [MemberData(nameof(Cases))]
    public void MatchesInFloat(string name) => Compare<float>(name, 1e-4);

    private static void Compare<T>(string name, double tolerance) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var c = ReferenceCase.Load(name);
        var ours = Run<T>(c);
        var expected = new Dictionary<string, double[]>();
        if (c.Y is { } y) expected["y"] = y.Data;
        foreach (var (key, value) in c.Grads) expected[key] = value.Data;
        Assert.Equal(expected.Keys.Order(), ours.Keys.Where(k => k != "loss").Order());
        foreach (var (key, theirs) in expected)
        {
            double err = ReferenceCase.RelativeError(ours[key], theirs);
            Assert.True(err <= tolerance, $"{name} {key} ({typeof(T).Name}): relative error {err:E2} > {tolerance:E0}");
        }
        if (c.Loss is { } loss)
        {
            double err = Math.Abs(ours["loss"][0] - loss) / Math.Abs(loss);
            Assert.True(err <= tolerance, $"{name} loss ({typeof(T).Name}): {ours["loss"][0]} vs {loss}, relative error {err:E2}");
        }
    }

    private static T[] In<T>(double[] a) where T : unmanaged, IFloatingPointIeee754<T> => a.Select(T.CreateChecked).ToArray();

    private static double[] Out<T>(IEnumerable<T> a) where T : unmanaged, IFloatingPointIeee754<T> => a.Select(double.CreateChecked).ToArray();

    private static Dictionary<string, double[]> Run<T>(ReferenceCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        if (c.Op is "softmax_cross_entropy" or "softmax_squared_error")
        {
            Loss<T> loss = c.Op == "softmax_cross_entropy" ? new SoftmaxCrossEntropy<T>() : new SoftmaxSquaredError<T>();
            var (shape, data) = c.Inputs["x"];
            int[] labels = c.Meta.GetProperty("labels").EnumerateArray().Select(v => v.GetInt32()).ToArray();
            var x = In<T>(data);
            var dx = new T[x.Length];
            T value = loss.Forward(x, labels, shape[0], shape[1]);
            loss.Backward(x, labels, dx, shape[0], shape[1]);
            return new() { ["loss"] = [double.CreateChecked(value)], ["dx"] = Out(dx) };
        }

        var xs = c.Inputs["x"];
        int n = xs.Shape[0];
        Shape input = xs.Shape.Length == 4 ? new Shape(xs.Shape[1], xs.Shape[2], xs.Shape[3]) : Shape.Vector(xs.Shape[1]);
        Layer<T> layer = c.Op switch
        {
            "conv2d" => MakeConv<T>(c),
            "linear" => new Dense<T>(c.Inputs["w"].Shape[0]),
            "maxpool2d" => new MaxPool2d<T>(Window(c), c.Meta.GetProperty("stride").GetInt32(), Edge(c)),
            "meanpool2d" => new MeanPool2d<T>(Window(c), c.Meta.GetProperty("stride").GetInt32(), Edge(c)),
            "subsample2d" => new Subsample2d<T>(Window(c)),
            "relu" => new Relu<T>(),
            "sigmoid" => new Sigmoid<T>(),
            "tanh" => new Tanh<T>(),
            _ => throw new InvalidOperationException($"no layer for op {c.Op}"),
        };
        layer.Build(input);
        layer.Reserve(n);
        Assert.Equal(c.Y!.Value.Shape.Skip(1).Aggregate(1, (a, b) => a * b), layer.OutputShape.Size);

        // Parameters in the order the reference names them.
        var byName = new Dictionary<string, Parameter<T>>();
        foreach (var p in layer.Parameters)
        {
            string key = p.Name switch { "weight" => "w", "bias" => "b", _ => p.Name };
            byName[key] = p;
            In<T>(c.Inputs[key].Data).CopyTo(p.Value, 0);
            p.ApplyMask();
        }

        var x2 = In<T>(xs.Data);
        var y = new T[n * layer.OutputShape.Size];
        layer.Forward(x2, y, n);
        var dy = In<T>(c.Dy!.Value.Data);
        var dxs = new T[x2.Length];
        layer.Backward(x2, y, dy, dxs, n);
        var result = new Dictionary<string, double[]> { ["y"] = Out(y), ["dx"] = Out(dxs) };
        foreach (var (key, p) in byName) result["d" + key] = Out(p.Gradient);
        return result;
    }

    private static Conv2d<T> MakeConv<T>(ReferenceCase c) where T : unmanaged, IFloatingPointIeee754<T>
    {
        var w = c.Inputs["w"].Shape;
        int[] pad = c.Meta.GetProperty("pad_top_bottom_left_right").EnumerateArray().Select(v => v.GetInt32()).ToArray();
        bool[,]? table = null;
        if (c.Meta.TryGetProperty("connection_table_out_by_in", out var t))
        {
            var rows = t.EnumerateArray().Select(r => r.EnumerateArray().Select(v => v.GetInt32() == 1).ToArray()).ToArray();
            table = new bool[rows.Length, rows[0].Length];
            for (int o = 0; o < rows.Length; o++)
                for (int i = 0; i < rows[0].Length; i++)
                    table[o, i] = rows[o][i];
        }
        return new Conv2d<T>(w[0], w[2], w[3], c.Meta.GetProperty("stride").GetInt32(), Padding.Sides(pad[0], pad[1], pad[2], pad[3]), table);
    }

    private static int Window(ReferenceCase c) => c.Meta.GetProperty("window").GetInt32();

    private static PoolEdge Edge(ReferenceCase c) =>
        c.Meta.TryGetProperty("edge", out var e) && e.GetString() == "pad" ? PoolEdge.Pad : PoolEdge.Drop;
}
