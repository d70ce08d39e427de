// The layer-kind table: every kind reads its own tokens back, every built layer gives its
// description back, the traits the engine relies on hold for the layers, and a kind written
// outside the library can be registered and then named in specs and model files.

using System.Text.RegularExpressions;
using SharpCnn.Formats;
using SharpCnn.Formats.Onnx;
using SharpCnn.Layers;
using SharpCnn.Model;
using SharpCnn.Tensors;

namespace SharpCnn.Tests.Layers;

public sealed partial class LayerKindsTests : IDisposable
{
    private readonly string dir = Directory.CreateTempSubdirectory("sharpcnn-kinds-").FullName;

    public void Dispose() => Directory.Delete(dir, recursive: true);

    /// <summary>Tokens of every built-in kind, with their options and aliases; each must read back to the same canonical token.</summary>
    private static readonly string[] SampleTokens =
    [
        "conv5x5x32", "conv5x5x32:same", "conv3x2x4:s2:p1-0-2-1", "conv3x3x4:full", "conv3x3x4:p2x1", "conv5x5x16:table=lenet5", "conv3x3x3:table=10.01.11",
        "maxpool2", "maxpool3:s2:pad", "maxpool2x3:s1", "meanpool2", "avgpool3:s2:pad", "subsample2", "subsample2:pad",
        "dense10", "fc7", "flatten", "relu", "sigmoid", "tanh", "identity", "linear", "minusmax", "-max", "divnorm", "norm",
        "crop24x24", "batchnorm", "bn:m0.01:e0.001", "batchnorm:e1e-3", "dropout0.5", "dropout1e-5", "leakyrelu0.1", "leakyrelu1e-2",
        "normalize", "normalise", "randcrop4", "randshift2", "randflip",
    ];

    [Fact]
    public void EveryKindReadsItsTokensBackToTheSameDescription()
    {
        var seen = new HashSet<LayerKind>();
        foreach (string text in SampleTokens)
        {
            var spec = LayerKinds.Parse(new LayerToken(text, 1));
            seen.Add(spec.Kind);
            Assert.Contains(spec.Kind, LayerKinds.All);
            var again = LayerKinds.Parse(new LayerToken(spec.Token, 1));
            Assert.Equal(spec.Token, again.Token);
            Assert.Same(spec.Kind, again.Kind);
            if (spec is not ConvSpec { ConnectionTable: not null }) Assert.Equal(spec, again); // records compare by value (a table by reference)
        }
        // Every built-in kind is covered by the samples (kinds registered by other tests come after them).
        Assert.All(LayerKinds.All.Where(k => k.GetType().Assembly == typeof(LayerKind).Assembly), k => Assert.Contains(k, seen));
    }

    [Theory]
    [InlineData("conv5x5x6:same,tanh,subsample2,conv5x5x16:table=lenet5,sigmoid,meanpool2:pad,batchnorm:m0.2,crop3x3,flatten,dense20,dropout0.3,relu,identity,dense10,minusmax")]
    [InlineData("conv3x3x4:s2:p1,relu,maxpool3:s2:pad,flatten,batchnorm:e0.001,dense10,divnorm")]
    public void BuiltLayersGiveTheirDescriptionBack(string text)
    {
        var network = ModelSpec.Parse(text).Build<float>(new Shape(1, 28, 28));
        var described = new ModelSpec(network.Layers.Select(l => l.Spec));
        Assert.Equal(text, described.Text);
        Assert.Equal(network.Spec, described.Text);
        var rebuilt = described.Build<double>(new Shape(1, 28, 28));
        Assert.Equal(network.Layers.Select(l => l.OutputShape), rebuilt.Layers.Select(l => l.OutputShape));
        Assert.Equal(network.ParameterCount, rebuilt.ParameterCount);
    }

    [Fact]
    public void DescriptionsMadeInCodeAreTheParsedOnes()
    {
        var spec = new ModelSpec(
        [
            new ConvSpec(5, 5, 8, Padding: Padding.Same),
            ReluSpec.Instance,
            new MaxPoolSpec(new PoolWindow(2, 2, 2, PoolEdge.Drop)),
            new BatchNormSpec(Momentum: 0.01),
            new DropoutSpec(0.25),
            new DenseSpec(10),
        ], new Shape(1, 28, 28));
        Assert.Equal("input1x28x28,conv5x5x8:same,relu,maxpool2,batchnorm:m0.01,dropout0.25,dense10", spec.Text);
        Assert.Equal(ModelSpec.Parse(spec.Text).Layers, spec.Layers);
        Assert.Equal(Shape.Vector(10), spec.Build<float>(null).OutputShape);
    }

    [Fact]
    public void AnUnknownTokenListsEveryKind()
    {
        var e = Assert.Throws<ModelSpecException>(() => ModelSpec.Parse("relu,wobble3"));
        Assert.Equal(2, e.Position);
        Assert.All(LayerKinds.All, k => Assert.Contains(k.Grammar, e.Message));
    }

    [Fact]
    public void TraitsHoldForTheLayersOfEachKind()
    {
        var input = new Shape(6, 28, 28);
        var x = RandomTensors.Normal(new Rng(3), 2 * input.Size);
        foreach (string text in SampleTokens.Where(t => !t.Contains("table=", StringComparison.Ordinal)))
        {
            var spec = LayerKinds.Parse(new LayerToken(text, 1));
            var traits = spec.Kind.Traits;
            var layer = spec.Create<double>();
            layer.Build(input);
            layer.Reserve(2);
            Assert.Equal(traits.HasFlag(LayerTraits.Parameters), layer.Parameters.Count > 0);
            Assert.Equal(traits.HasFlag(LayerTraits.StepSeeded), layer is IStepSeeded);
            if (!traits.HasFlag(LayerTraits.ChangesShape)) Assert.Equal(input, layer.OutputShape);
            if (traits.HasFlag(LayerTraits.Elementwise)) Assert.Equal(input, layer.OutputShape);
            if (traits.HasFlag(LayerTraits.Bounded))
            {
                var y = new double[2 * layer.OutputShape.Size];
                layer.Forward(x, y, 2);
                Assert.True(y.Max(Math.Abs) <= Math.Max(1, x.Max(Math.Abs)), $"{text}: a bounded layer's output grew");
            }
        }
        // The divergence guard skips exactly these kinds' outputs.
        string[] bounded = [.. LayerKinds.All.Where(k => k.Traits.HasFlag(LayerTraits.Bounded)).Select(k => k.Name)];
        Assert.Equal(["maxpool", "flatten", "relu", "sigmoid", "tanh", "identity", "crop", "leakyrelu", "randcrop", "randshift", "randflip"], bounded);
        Assert.Equal(["batchnorm"], LayerKinds.All.Where(k => k.Traits.HasFlag(LayerTraits.BatchStatistics)).Select(k => k.Name));
    }

    /// <summary>A kind written outside the library: <c>scale{k}</c>, y = k·x.</summary>
    private sealed partial class ScaleKind : LayerKind
    {
        public static ScaleKind Instance { get; } = new();

        public override string Name => "scale";

        public override string Grammar => "scale{k}";

        public override string Summary => "multiplies every value by k";

        public override LayerTraits Traits => LayerTraits.Elementwise;

        public override LayerSpec? Parse(LayerToken token)
        {
            var m = Head().Match(token.Head);
            if (!m.Success) return null;
            double k = token.Number(m.Groups[1].Value, "scale");
            token.RequireNoOptions();
            return new ScaleSpec(k);
        }

        [GeneratedRegex(@"^scale(.+)$")]
        private static partial Regex Head();
    }

    private sealed record ScaleSpec(double Factor) : LayerSpec
    {
        public override LayerKind Kind => ScaleKind.Instance;

        public override string Token => "scale" + LayerToken.Format(Factor);

        public override Layer<T> Create<T>() => new Scale<T>(Factor);
    }

    private sealed class Scale<T>(double factor) : Layer<T> where T : unmanaged, IFloatingPointIeee754<T>
    {
        public override LayerSpec Spec => new ScaleSpec(factor);

        protected override Shape Configure(Shape input) => input;

        public override void Forward(ReadOnlySpan<T> x, Span<T> y, int n)
        {
            CheckForward(x, y, n);
            for (int i = 0; i < n * InputShape.Size; i++) y[i] = x[i] * T.CreateChecked(factor);
        }

        public override void Backward(ReadOnlySpan<T> x, ReadOnlySpan<T> y, ReadOnlySpan<T> dy, Span<T> dx, int n)
        {
            CheckBackward(x, y, dy, dx, n);
            if (dx.IsEmpty) return;
            for (int i = 0; i < n * InputShape.Size; i++) dx[i] = dy[i] * T.CreateChecked(factor);
        }
    }

    [Fact]
    public void AKindWrittenOutsideTheLibraryCanBeRegisteredAndNamed()
    {
        if (LayerKinds.Find("scale") is null) LayerKinds.Register(ScaleKind.Instance);
        Assert.Throws<ArgumentException>(() => LayerKinds.Register(ScaleKind.Instance));

        var network = ModelSpec.Parse("conv3x3x2,scale0.5,flatten,dense3").Build<double>(new Shape(1, 6, 6));
        Initializer.Apply(network.Layers, InitScheme.He, new Rng(2));
        Assert.Equal("conv3x3x2,scale0.5,flatten,dense3", network.Spec);
        var rng = new Rng(4);
        GradientAssert.Passes(GradientChecker.CheckModel(network, RandomTensors.Normal(rng, 2 * 36), [0, 2], 2));

        // A model file names it, and reads back while the kind is registered.
        string path = Path.Combine(dir, "scale.scnn");
        ModelFile.Save(network, path);
        Assert.Equal(network.Spec, ModelFile.Load<double>(path).Spec);

        // It has no ONNX form: the export says which layer.
        var e = Assert.Throws<NotSupportedException>(() => OnnxExport.ToBytes(network));
        Assert.Equal("layer 2 (scale0.5) has no ONNX form in this exporter", e.Message);
    }

    [Fact]
    public void ALayerMadeInCodeHasADescriptionThatCannotBeRecreated()
    {
        var spec = new CodeLayerSpec("my-layer");
        Assert.Equal("my-layer", spec.Token);
        Assert.Null(spec.Kind.Parse(new LayerToken("my-layer", 1)));
        Assert.Contains("made in code", Assert.Throws<NotSupportedException>(() => spec.Create<float>()).Message);
    }
}
