using System.Text.Json;

namespace SharpCnn.Tests.Reference;

/// <summary>
/// One golden case computed by PyTorch 1.13 in float64 (see README.md in this folder):
/// inputs, the expected output y for the upstream gradient dy, and the expected gradients.
/// </summary>
internal sealed class ReferenceCase
{
    private ReferenceCase(string name, string op, JsonElement meta, Dictionary<string, (int[] Shape, double[] Data)> inputs,
        (int[] Shape, double[] Data)? y, (int[] Shape, double[] Data)? dy, Dictionary<string, (int[] Shape, double[] Data)> grads, double? loss)
    {
        Name = name;
        Op = op;
        Meta = meta;
        Inputs = inputs;
        Y = y;
        Dy = dy;
        Grads = grads;
        Loss = loss;
    }

    public string Name { get; }

    public string Op { get; }

    public JsonElement Meta { get; }

    public Dictionary<string, (int[] Shape, double[] Data)> Inputs { get; }

    public (int[] Shape, double[] Data)? Y { get; }

    public (int[] Shape, double[] Data)? Dy { get; }

    public Dictionary<string, (int[] Shape, double[] Data)> Grads { get; }

    public double? Loss { get; }

    public static IEnumerable<string> Names =>
        Directory.GetFiles(Folder, "*.json").Select(Path.GetFileNameWithoutExtension).Order()!;

    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Reference");

    public static ReferenceCase Load(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(Folder, name + ".json")));
        var root = doc.RootElement;
        static (int[], double[]) Tensor(JsonElement e) =>
            (e.GetProperty("shape").EnumerateArray().Select(v => v.GetInt32()).ToArray(),
             e.GetProperty("data").EnumerateArray().Select(v => v.GetDouble()).ToArray());
        var inputs = root.GetProperty("inputs").EnumerateObject().ToDictionary(p => p.Name, p => Tensor(p.Value));
        var grads = root.GetProperty("grads").EnumerateObject().ToDictionary(p => p.Name, p => Tensor(p.Value));
        (int[], double[])? y = root.TryGetProperty("y", out var ye) ? Tensor(ye) : null;
        (int[], double[])? dy = root.TryGetProperty("dy", out var de) ? Tensor(de) : null;
        double? loss = root.TryGetProperty("loss", out var le) ? le.GetDouble() : null;
        return new ReferenceCase(root.GetProperty("name").GetString()!, root.GetProperty("op").GetString()!, root.GetProperty("meta").Clone(), inputs, y, dy, grads, loss);
    }

    /// <summary>max |ours - theirs| / max |theirs| over a tensor.</summary>
    public static double RelativeError(IReadOnlyList<double> ours, IReadOnlyList<double> theirs)
    {
        Assert.Equal(theirs.Count, ours.Count);
        double diff = 0, scale = 0;
        for (int i = 0; i < theirs.Count; i++)
        {
            diff = Math.Max(diff, Math.Abs(ours[i] - theirs[i]));
            scale = Math.Max(scale, Math.Abs(theirs[i]));
        }
        return diff / (scale == 0 ? 1 : scale);
    }
}
