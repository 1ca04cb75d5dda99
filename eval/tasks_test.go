package eval

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/prunebench/prunebench/data"
	"github.com/prunebench/prunebench/internal/datatest"
)

func TestTaskNames(t *testing.T) {
	want := []string{"boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa", "piqa"}
	if got := TaskNames(); !reflect.DeepEqual(got, want) {
		t.Errorf("TaskNames() = %q, want %q", got, want)
	}
	if got := PaperTaskNames(); !reflect.DeepEqual(got, want[:7]) {
		t.Errorf("PaperTaskNames() = %q, want %q", got, want[:7])
	}
}

// wantDoc is a document as EVALUATION.md §3.4 builds it, written out by hand.
// A single context stands for the context of every request.
type wantDoc struct {
	line     int
	contexts []string
	conts    []string
	choices  []string
	gold     int
}

func checkDoc(t *testing.T, got Doc, want wantDoc) {
	t.Helper()
	ctxs := want.contexts
	if len(ctxs) == 1 {
		ctxs = nil
		for range want.conts {
			ctxs = append(ctxs, want.contexts[0])
		}
	}
	if got.Line != want.line || got.Gold != want.gold {
		t.Errorf("line %d gold %d, want line %d gold %d", got.Line, got.Gold, want.line, want.gold)
	}
	if !reflect.DeepEqual(got.Contexts, ctxs) {
		t.Errorf("contexts\n got %q\nwant %q", got.Contexts, ctxs)
	}
	if !reflect.DeepEqual(got.Continuations, want.conts) {
		t.Errorf("continuations\n got %q\nwant %q", got.Continuations, want.conts)
	}
	if !reflect.DeepEqual(got.Choices, want.choices) {
		t.Errorf("choices\n got %q\nwant %q", got.Choices, want.choices)
	}
}

const (
	boolqPassage1 = "All biomass goes through at least some of these steps: it needs to be grown, collected, dried, fermented, distilled, and burned. All of these steps require resources and an infrastructure. The total amount of energy input into the process compared to the energy released by burning the resulting ethanol fuel is known as the energy balance (or ``energy returned on energy invested''). Figures compiled in a 2007 report by National Geographic Magazine point to modest results for corn ethanol produced in the US: one unit of fossil-fuel energy is required to create 1.3 energy units from the resulting ethanol. The energy balance for sugarcane ethanol produced in Brazil is more favorable, with one unit of fossil-fuel energy required to create 8 from the ethanol. Energy balance estimates are not easily produced, thus numerous such reports have been generated that are contradictory. For instance, a separate survey reports that production of ethanol from sugarcane, which requires a tropical climate to grow productively, returns from 8 to 9 units of energy for each unit expended, as compared to corn, which only returns about 1.34 units of fuel energy for each unit of energy expended. A 2006 University of California Berkeley study, after analyzing six separate studies, concluded that producing ethanol from corn uses much less petroleum than producing gasoline."
	boolqPassage2 = "Property tax or 'house tax' is a local tax on buildings, along with appurtenant land. It is and imposed on the Possessor (not the custodian of property as per 1978, 44th amendment of constitution). It resembles the US-type wealth tax and differs from the excise-type UK rate. The tax power is vested in the states and is delegated to local bodies, specifying the valuation method, rate band, and collection procedures. The tax base is the annual rental value (ARV) or area-based rating. Owner-occupied and other properties not producing rent are assessed on cost and then converted into ARV by applying a percentage of cost, usually four percent. Vacant land is generally exempt. Central government properties are exempt. Instead a 'service charge' is permissible under executive order. Properties of foreign missions also enjoy tax exemption without requiring reciprocity. The tax is usually accompanied by service taxes, e.g., water tax, drainage tax, conservancy (sanitation) tax, lighting tax, all using the same tax base. The rate structure is flat on rural (panchayat) properties, but in the urban (municipal) areas it is mildly progressive with about 80% of assessments falling in the first two brackets."
	guineaPaper   = "Provide the guinea pig with a cage full of a few inches of bedding made of ripped paper strips, you will also need to supply it with a water bottle and a food dish."
	guineaJeans   = "Provide the guinea pig with a cage full of a few inches of bedding made of ripped jeans material, you will also need to supply it with a water bottle and a food dish."
)

// TestSharedFilesFirstDocs checks the prompts built for the first two
// documents of every shared file, and the document and request counts of
// EVALUATION.md §3.5.
func TestSharedFilesFirstDocs(t *testing.T) {
	dir := datatest.Dir(t)
	arcE := "Question: Which statement best explains why photosynthesis is the foundation of most food webs?\nAnswer:"
	arcE2 := "Question: Which piece of safety equipment is used to keep mold spores from entering the respiratory system?\nAnswer:"
	arcC := "Question: An astronomer observes that a planet rotates faster after a meteorite impact. Which is the most likely effect of this increase in rotation?\nAnswer:"
	arcC2 := "Question: A group of engineers wanted to know how different building designs would respond during an earthquake. They made several models of buildings and tested each for its ability to withstand earthquake conditions. Which will most likely result from testing different building designs?\nAnswer:"
	cases := []struct {
		task     string
		docs     int
		requests int
		format   string
		first    [2]wantDoc
	}{
		{"boolq", 3270, 6540, "boolq jsonl", [2]wantDoc{
			{1, []string{"Ethanol fuel -- " + boolqPassage1 + "\nQuestion: does ethanol take more energy make that produces?\nAnswer:"},
				[]string{" yes", " no"}, []string{"yes", "no"}, 1},
			{2, []string{"Property tax -- " + boolqPassage2 + "\nQuestion: is house tax and property tax are same?\nAnswer:"},
				[]string{" yes", " no"}, []string{"yes", "no"}, 0},
		}},
		{"rte", 277, 554, "glue rte tsv", [2]wantDoc{
			{2, []string{"Dana Reeve, the widow of the actor Christopher Reeve, has died of lung cancer at age 44, according to the Christopher Reeve Foundation.\nQuestion: Christopher Reeve had an accident. True or False?\nAnswer:"},
				[]string{" True", " False"}, []string{"True", "False"}, 1},
			{3, []string{"Yet, we now are discovering that antibiotics are losing their effectiveness against illness. Disease-causing bacteria are mutating faster than we can come up with new antibiotics to fight the new variations.\nQuestion: Bacteria is winning the war against antibiotics. True or False?\nAnswer:"},
				[]string{" True", " False"}, []string{"True", "False"}, 0},
		}},
		{"hellaswag", 10042, 40168, "hellaswag six-line text", [2]wantDoc{
			{1, []string{"Roof shingle removal: A man is sitting on a roof. He"},
				[]string{" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.", " starts pulling up roofing on a roof."},
				[]string{"is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof."}, 3},
			{7, []string{"Clean and jerk: A lady walks to a barbell. She bends down and grabs the pole. The lady"},
				[]string{" swings and lands in her arms.", " pulls the barbell forward.", " pulls a rope attached to the barbell.", " stands and lifts the weight over her head."},
				[]string{"swings and lands in her arms.", "pulls the barbell forward.", "pulls a rope attached to the barbell.", "stands and lifts the weight over her head."}, 3},
		}},
		{"winogrande", 1267, 2534, "nutcracker jsonl", [2]wantDoc{
			{1, []string{"Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"},
				[]string{" always got the easier cases.", " always got the easier cases."}, []string{"Sarah", "Maria"}, 1},
			{2, []string{"Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"},
				[]string{" always got the harder cases.", " always got the harder cases."}, []string{"Sarah", "Maria"}, 0},
		}},
		{"arc_easy", 2376, 9501, "nutcracker jsonl", [2]wantDoc{
			{1, []string{arcE},
				[]string{" Sunlight is the source of energy for nearly all ecosystems.", " Most ecosystems are found on land instead of in water.", " Carbon dioxide is more available than other gases.", " The producers in all ecosystems are plants."},
				[]string{"Sunlight is the source of energy for nearly all ecosystems.", "Most ecosystems are found on land instead of in water.", "Carbon dioxide is more available than other gases.", "The producers in all ecosystems are plants."}, 0},
			{2, []string{arcE2},
				[]string{" safety goggles", " breathing mask", " rubber gloves", " lead apron"},
				[]string{"safety goggles", "breathing mask", "rubber gloves", "lead apron"}, 1},
		}},
		{"arc_challenge", 1172, 4687, "nutcracker jsonl", [2]wantDoc{
			{1, []string{arcC},
				[]string{" Planetary density will decrease.", " Planetary years will become longer.", " Planetary days will become shorter.", " Planetary gravity will become stronger."},
				[]string{"Planetary density will decrease.", "Planetary years will become longer.", "Planetary days will become shorter.", "Planetary gravity will become stronger."}, 2},
			{2, []string{arcC2},
				[]string{" buildings will be built faster", " buildings will be made safer", " building designs will look nicer", " building materials will be cheaper"},
				[]string{"buildings will be built faster", "buildings will be made safer", "building designs will look nicer", "building materials will be cheaper"}, 1},
		}},
		{"openbookqa", 500, 2000, "nutcracker jsonl", [2]wantDoc{
			{1, []string{"A person wants to start saving money so that they can afford a nice vacation at the end of the year. After looking over their budget and expenses, they decide the best way to save money is to"},
				[]string{" make more phone calls", " quit eating lunch out", " buy less with monopoly money", " have lunch with friends"},
				[]string{"make more phone calls", "quit eating lunch out", "buy less with monopoly money", "have lunch with friends"}, 1},
			{2, []string{"There is most likely going to be fog around:"},
				[]string{" a marsh", " a tundra", " the plains", " a desert"},
				[]string{"a marsh", "a tundra", "the plains", "a desert"}, 0},
		}},
		{"piqa", 1838, 3676, "nutcracker jsonl", [2]wantDoc{
			{1, []string{"Question: How do I ready a guinea pig cage for it's new occupants?\nAnswer:"},
				[]string{" " + guineaPaper, " " + guineaJeans}, []string{guineaPaper, guineaJeans}, 0},
			// Options keep their surrounding spaces verbatim (lm-eval does not strip).
			{2, []string{"Question: dresser\nAnswer:"},
				[]string{" replace drawer with bobby pin ", " finish, woodgrain with  bobby pin "},
				[]string{"replace drawer with bobby pin ", "finish, woodgrain with  bobby pin "}, 1},
		}},
	}
	for _, c := range cases {
		t.Run(c.task, func(t *testing.T) {
			task, err := LoadTask(c.task, dir, LoadOptions{})
			if err != nil {
				t.Fatal(err)
			}
			reqs := 0
			for _, d := range task.Docs {
				reqs += len(d.Contexts)
			}
			if len(task.Docs) != c.docs || reqs != c.requests || task.Format != c.format {
				t.Errorf("%d docs, %d requests, format %q; want %d, %d, %q", len(task.Docs), reqs, task.Format, c.docs, c.requests, c.format)
			}
			for i, w := range c.first {
				t.Run(string(rune('0'+i)), func(t *testing.T) { checkDoc(t, task.Docs[i], w) })
			}
		})
	}
}

// TestHellaSwagSixLine checks the two context modes over the whole shared
// file: capitalize-tail changes the 3,236 items EVALUATION.md counts, and
// re-preprocessing leaves no bracket anywhere.
func TestHellaSwagSixLine(t *testing.T) {
	dir := datatest.Dir(t)
	capd, err := LoadTask("hellaswag", dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	asis, err := LoadTask("hellaswag", dir, LoadOptions{HellaSwagCtx: HellaSwagAsIs})
	if err != nil {
		t.Fatal(err)
	}
	if capd.Settings["hellaswag.ctx"] != "capitalize-tail" || asis.Settings["hellaswag.ctx"] != "as-is" {
		t.Errorf("settings %v and %v", capd.Settings, asis.Settings)
	}
	if got := asis.Docs[0].Contexts[0]; got != "Roof shingle removal: A man is sitting on a roof. he" {
		t.Errorf("as-is context %q", got)
	}
	changed, spans := 0, 0
	for i := range capd.Docs {
		if capd.Docs[i].Contexts[0] != asis.Docs[i].Contexts[0] {
			changed++
		}
		for _, s := range append(capd.Docs[i].Choices, capd.Docs[i].Contexts[0]) {
			if bracketSpan.MatchString(s) {
				spans++
			}
		}
	}
	// Unpaired brackets ("go to settings] general") stay, as in lm-eval.
	if changed != 3236 || spans != 0 {
		t.Errorf("capitalize-tail changed %d contexts (want 3236); %d strings keep a [...] span (want 0)", changed, spans)
	}
}

func TestPythonStrings(t *testing.T) {
	cases := []struct{ fn, in, want string }{
		{"capitalize", "the LADY", "The lady"},
		{"capitalize", "", ""},
		{"capitalize", "élan Vital", "Élan vital"},
		{"preprocess", "  Making a cake [title] Mix flour. [step] Add  eggs [header] x ", "Making a cake. Mix flour. Add eggs x"},
		{"preprocess", "a [b] c [d", "a c [d"},
		{"tail", "Act: A man sits. he runs", "Act: A man sits. He runs"},
		{"tail", "Act: A man sits. He runs", "Act: A man sits. He runs"},
		{"tail", "Act: A man sits. he runs. then", "Act: A man sits. he runs. Then"},
		{"tail", "Act: A man sits. he goes to the u.s.a", "Act: A man sits. he goes to the u.s.a"},
		{"tail", "Act: A man. sits at the U.S. border", "Act: A man. sits at the U.S. Border"}, // the heuristic's limit
		{"tail", "Act: a man sits", "Act: a man sits"},
		{"strip", "\x1c\u00a0 x \t\n", "x"},
	}
	for _, c := range cases {
		var got string
		switch c.fn {
		case "capitalize":
			got = pyCapitalize(c.in)
		case "preprocess":
			got = hellaswagPreprocess(c.in)
		case "tail":
			got = capitalizeTail(c.in)
		case "strip":
			got = pyStrip(c.in)
		}
		if got != c.want {
			t.Errorf("%s(%q) = %q, want %q", c.fn, c.in, got, c.want)
		}
	}
}

// writeFiles writes name → content under a temporary directory.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestUpstreamLayouts loads the layouts users download, each from a
// two-document file, and checks the first document they give.
func TestUpstreamLayouts(t *testing.T) {
	files := map[string]string{
		"boolq_superglue.jsonl": `{"question": "is it", "passage": "Title -- Body.", "idx": 0, "label": 1}` + "\n" +
			`{"question": "is it not", "passage": "Body two.", "idx": 1, "label": false}` + "\n",
		"boolq_titled.jsonl": `{"question": "q", "title": "T", "passage": "T -- Body.", "answer": true}` + "\n",
		"rte_glue.jsonl":     `{"sentence1": "A.", "sentence2": "B.", "label": 1, "idx": 0}` + "\n",
		"rte_superglue.jsonl": `{"premise": "A.", "hypothesis": "B.", "label": "entailment", "idx": 0}` + "\n" +
			`{"premise": "C.", "hypothesis": "D.", "label": "not_entailment", "idx": 1}` + "\n",
		// GLUE's original TSV: index column first, named labels, CRLF, and
		// quotes that are text, not CSV quoting.
		"rte_glue.tsv": "index\tsentence1\tsentence2\tlabel\r\n0\t\"Dr. Death\" said \"no\".\tB.\tnot_entailment\r\n1\tC.\tD.\tentailment\r\n",
		// An export with CSV quoting, as the shared file.
		"rte_quoted.tsv":          "sentence1\tsentence2\tlabel\tidx\n\"Kevorkian, famed as \"\"Dr. Death,\"\" won.\"\t\"Two\nlines\"\t0\t0\n",
		"hellaswag_val.jsonl":     `{"ind": 24, "activity_label": "Roof shingle removal", "ctx_a": "A man is sitting on a roof.", "ctx_b": "he", "ctx": "A man is sitting on a roof. he", "split": "val", "split_type": "indomain", "label": 3, "endings": ["is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof."], "source_id": "activitynet~v_-JhWjGDPHMY"}` + "\n",
		"hellaswag_hf.jsonl":      `{"activity_label": "Making a cake", "ctx_a": "[header] How to bake. [title] Mix the flour.", "ctx_b": "", "endings": ["[step] Add  eggs.", "Stir.", "Bake [substeps] it.", "Eat."], "label": "2"}` + "\n",
		"winogrande_xl_dev.jsonl": `{"qID": "x-1", "sentence": "Sarah was a much better surgeon than Maria so _ always got the easier cases.", "option1": "Sarah", "option2": "Maria", "answer": "2"}` + "\n",
		"arc_orig.jsonl":          `{"id": "Mercury_1", "question": {"stem": "Which is a gas?", "choices": [{"text": "rock", "label": "1"}, {"text": "air", "label": "2"}, {"text": "wood", "label": "3"}]}, "answerKey": "2"}` + "\n",
		"arc_hf.jsonl":            `{"id": "x", "question": "Which is a gas?", "choices": {"text": ["rock", "air", "wood"], "label": ["A", "B", "C"]}, "answerKey": "C"}` + "\n",
		"obqa_orig.jsonl":         `{"id": "7-980", "question": {"stem": "The sun is responsible for", "choices": [{"text": "puppies learning new tricks", "label": "A"}, {"text": "plants sprouting", "label": "D"}]}, "answerKey": "B "}` + "\n",
		"obqa_hf.jsonl":           `{"id": "7-980", "question_stem": "The sun is responsible for", "choices": {"text": ["a", "b", "c", "d"], "label": ["A", "B", "C", "D"]}, "answerKey": "D"}` + "\n",
		"piqa/valid.jsonl": `{"goal": "dresser", "sol1": "replace drawer ", "sol2": "finish"}` + "\n" +
			`{"goal": "g2", "sol1": "a", "sol2": "b"}` + "\n",
		"piqa/valid-labels.lst": "1\n0\n",
		"piqa_hf.jsonl":         `{"goal": "dresser", "sol1": "x", "sol2": "y", "label": 1}` + "\n",
	}
	dir := writeFiles(t, files)
	qa := "Question: Which is a gas?\nAnswer:"
	cases := []struct {
		task, file, format string
		want               wantDoc
		docs               int
		settings           map[string]string
	}{
		{"boolq", "boolq_superglue.jsonl", "boolq jsonl", wantDoc{1, []string{"Title -- Body.\nQuestion: is it?\nAnswer:"}, []string{" yes", " no"}, []string{"yes", "no"}, 0}, 2, nil},
		{"boolq", "boolq_titled.jsonl", "boolq jsonl", wantDoc{1, []string{"T -- Body.\nQuestion: q?\nAnswer:"}, []string{" yes", " no"}, []string{"yes", "no"}, 0}, 1, nil},
		{"rte", "rte_glue.jsonl", "rte jsonl", wantDoc{1, []string{"A.\nQuestion: B. True or False?\nAnswer:"}, []string{" True", " False"}, []string{"True", "False"}, 1}, 1, nil},
		{"rte", "rte_superglue.jsonl", "rte jsonl", wantDoc{1, []string{"A.\nQuestion: B. True or False?\nAnswer:"}, []string{" True", " False"}, []string{"True", "False"}, 0}, 2, nil},
		{"rte", "rte_glue.tsv", "glue rte tsv", wantDoc{2, []string{"\"Dr. Death\" said \"no\".\nQuestion: B. True or False?\nAnswer:"}, []string{" True", " False"}, []string{"True", "False"}, 1}, 2,
			map[string]string{"rte.tsv.quoting": "none"}},
		{"rte", "rte_quoted.tsv", "glue rte tsv", wantDoc{2, []string{"Kevorkian, famed as \"Dr. Death,\" won.\nQuestion: Two\nlines True or False?\nAnswer:"}, []string{" True", " False"}, []string{"True", "False"}, 0}, 1,
			map[string]string{"rte.tsv.quoting": "csv"}},
		{"hellaswag", "hellaswag_val.jsonl", "hellaswag jsonl", wantDoc{1, []string{"Roof shingle removal: A man is sitting on a roof. He"},
			[]string{" is using wrap to wrap a pair of skis.", " is ripping level tiles off.", " is holding a rubik's cube.", " starts pulling up roofing on a roof."},
			[]string{"is using wrap to wrap a pair of skis.", "is ripping level tiles off.", "is holding a rubik's cube.", "starts pulling up roofing on a roof."}, 3}, 1,
			map[string]string{"hellaswag.ctx": "exact"}},
		// lm-eval strips before deleting "[step]", so that ending keeps a
		// leading space.
		{"hellaswag", "hellaswag_hf.jsonl", "hellaswag jsonl", wantDoc{1, []string{"Making a cake: How to bake.. Mix the flour."},
			[]string{"  Add eggs.", " Stir.", " Bake it.", " Eat."}, []string{" Add eggs.", "Stir.", "Bake it.", "Eat."}, 2}, 1,
			map[string]string{"hellaswag.ctx": "exact"}},
		{"winogrande", "winogrande_xl_dev.jsonl", "winogrande jsonl", wantDoc{1,
			[]string{"Sarah was a much better surgeon than Maria so Sarah", "Sarah was a much better surgeon than Maria so Maria"},
			[]string{" always got the easier cases.", " always got the easier cases."}, []string{"Sarah", "Maria"}, 1}, 1, nil},
		{"arc_easy", "arc_orig.jsonl", "ai2_arc jsonl", wantDoc{1, []string{qa}, []string{" rock", " air", " wood"}, []string{"rock", "air", "wood"}, 1}, 1, nil},
		{"arc_challenge", "arc_hf.jsonl", "ai2_arc jsonl", wantDoc{1, []string{qa}, []string{" rock", " air", " wood"}, []string{"rock", "air", "wood"}, 2}, 1, nil},
		{"openbookqa", "obqa_orig.jsonl", "openbookqa jsonl", wantDoc{1, []string{"The sun is responsible for"},
			[]string{" puppies learning new tricks", " plants sprouting"}, []string{"puppies learning new tricks", "plants sprouting"}, 1}, 1, nil},
		{"openbookqa", "obqa_hf.jsonl", "openbookqa jsonl", wantDoc{1, []string{"The sun is responsible for"},
			[]string{" a", " b", " c", " d"}, []string{"a", "b", "c", "d"}, 3}, 1, nil},
		{"piqa", "piqa/valid.jsonl", "piqa jsonl", wantDoc{1, []string{"Question: dresser\nAnswer:"},
			[]string{" replace drawer ", " finish"}, []string{"replace drawer ", "finish"}, 1}, 2, nil},
		{"piqa", "piqa_hf.jsonl", "piqa jsonl", wantDoc{1, []string{"Question: dresser\nAnswer:"},
			[]string{" x", " y"}, []string{"x", "y"}, 1}, 1, nil},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			// A path is never joined to the data directory.
			if _, err := LoadTask(c.task, dir, LoadOptions{Path: c.file}); !errors.Is(err, data.ErrNotFound) {
				t.Errorf("path relative to the data directory: got %v, want not found", err)
			}
			task, err := LoadTask(c.task, dir, LoadOptions{Path: filepath.Join(dir, c.file)})
			if err != nil {
				t.Fatal(err)
			}
			if task.Format != c.format || len(task.Docs) != c.docs || !reflect.DeepEqual(task.Settings, c.settings) {
				t.Errorf("format %q, %d docs, settings %v; want %q, %d, %v", task.Format, len(task.Docs), task.Settings, c.format, c.docs, c.settings)
			}
			checkDoc(t, task.Docs[0], c.want)
		})
	}
}

// TestDefaultPath finds a task in the data directory by its default path,
// verified, whatever the working directory holds.
func TestDefaultPath(t *testing.T) {
	rel, err := DefaultPath("arc_easy")
	if err != nil || rel != "tasks/arc-easy/test.json" {
		t.Fatalf("DefaultPath(arc_easy) = %q, %v", rel, err)
	}
	real := datatest.Dir(t)
	real, err = filepath.Abs(real)
	if err != nil {
		t.Fatal(err)
	}
	// A copy in the working directory that would have shadowed the data
	// directory's before.
	fake := writeFiles(t, map[string]string{rel: `{"centerpiece": "Q?", "options": ["a", "b"], "correct_options_idx": [1]}` + "\n"})
	t.Chdir(fake)
	task, err := LoadTask("arc_easy", real, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, _ := data.Lookup(rel)
	want := []data.FileRef{{Path: filepath.Join(real, rel), SHA256: e.SHA256, Size: e.Size}}
	if task.Path != filepath.Join(real, rel) || len(task.Docs) != 2376 || !reflect.DeepEqual(task.Files, want) {
		t.Errorf("path %q, %d docs, files %+v; want %+v", task.Path, len(task.Docs), task.Files, want)
	}
	// The copy, named by its path or found as the default file of another
	// data directory, is checked against the registry before it is parsed.
	for _, c := range []struct{ dir, path string }{{real, "./" + rel}, {fake, ""}} {
		_, err := LoadTask("arc_easy", c.dir, LoadOptions{Path: c.path})
		if err == nil || !strings.Contains(err.Error(), "size 73 bytes, expected 861962 for registered file "+rel) {
			t.Errorf("%+v: got %v, want a size mismatch", c, err)
		}
	}
}

// TestBadInput wants a one-line error naming the file and, where there is
// one, the line.
func TestBadInput(t *testing.T) {
	nut := func(lines ...string) string { return strings.Join(lines, "\n") + "\n" }
	good := `{"centerpiece": "Q?", "options": ["a", "b"], "correct_options_idx": [0]}`
	files := map[string]string{
		"garbled.jsonl":          nut(good, `{"centerpiece": "Q?", "options": ["a", "b"`),
		"nochoices.jsonl":        nut(good, good, `{"centerpiece": "Q?", "options": [], "correct_options_idx": [0]}`),
		"goldrange.jsonl":        nut(good, `{"centerpiece": "Q?", "options": ["a", "b"], "correct_options_idx": [7]}`),
		"twogold.jsonl":          nut(`{"centerpiece": "Q?", "options": ["a", "b"], "correct_options_idx": [0, 1]}`),
		"literal.jsonl":          nut(`{"centerpiece": "Q?", "options": ["a", "b"], "correct_options_literal": ["b"], "correct_options_idx": [0]}`),
		"emptychoice.jsonl":      nut(`{"centerpiece": "Q?", "options": ["a", ""], "correct_options_idx": [0]}`),
		"arckey.jsonl":           nut(`{"question": "Q?", "choices": {"text": ["a", "b"]}, "answerKey": "F"}`),
		"arcmissing.jsonl":       nut(`{"question": {"stem": "Q?", "choices": [{"label": "A"}]}, "answerKey": "A"}`),
		"boolq.jsonl":            nut(`{"question": "q", "passage": "p", "answer": "yes"}`),
		"wino.jsonl":             nut(`{"sentence": "no blank here", "option1": "a", "option2": "b", "answer": "1"}`),
		"winoans.jsonl":          nut(`{"sentence": "a _ b", "option1": "a", "option2": "b", "answer": ""}`),
		"rte.tsv":                "sentence1\tsentence2\tlabel\tidx\nA\tB\t0\t0\nA\tB\t-1\t1\n",
		"rtecols.tsv":            "sentence1\tsentence2\tlabel\tidx\nA\tB\t0\n",
		"rtequote.tsv":           "sentence1\tsentence2\tlabel\tidx\nA\tB\t0\t0\n\"A\" x\tB\t0\n",
		"rteempty.tsv":           "sentence1\tsentence2\tlabel\tidx\n",
		"rtehead.tsv":            "premise\thypothesis\tlabel\nA\tB\t0\n",
		"hs.txt":                 "ctx\n1\na\nb\nc\nd\nctx2\n0\na\n",
		"hsgold.txt":             "ctx\nx\na\nb\nc\nd\n",
		"hsgoldrange.txt":        "ctx\n4\na\nb\nc\nd\n",
		"piqa/valid.jsonl":       nut(`{"goal": "g", "sol1": "a", "sol2": "b"}`),
		"piqa2/valid.jsonl":      nut(`{"goal": "g", "sol1": "a", "sol2": "b"}`, `{"goal": "g", "sol1": "a", "sol2": "b"}`),
		"piqa2/valid-labels.lst": "1\n",
		"piqa3/valid.jsonl":      nut(`{"goal": "g", "sol1": "a", "sol2": "b"}`),
		"piqa3/valid-labels.lst": "one\n",
		"blank.jsonl":            "\n\n",
		"xml.jsonl":              "<xml/>\n",
		"garbled1.jsonl":         "\n{\"question\": \n",
	}
	dir := writeFiles(t, files)
	cases := []struct {
		task, file string
		opts       LoadOptions
		want       string // substring; the file (and line) are checked too
		line       string
	}{
		{"arc_easy", "missing.jsonl", LoadOptions{}, "not found", ""},
		{"arc_easy", "garbled.jsonl", LoadOptions{}, "invalid JSON", ":2:"},
		{"arc_easy", "nochoices.jsonl", LoadOptions{}, "0 choices", ":3:"},
		{"arc_easy", "goldrange.jsonl", LoadOptions{}, "gold index 7 out of range for 2 choices", ":2:"},
		{"winogrande", "twogold.jsonl", LoadOptions{}, "want exactly 1", ":1:"},
		{"piqa", "literal.jsonl", LoadOptions{}, "disagrees", ":1:"},
		{"openbookqa", "emptychoice.jsonl", LoadOptions{}, "choice 1 is empty", ":1:"},
		{"arc_easy", "arckey.jsonl", LoadOptions{}, `"F": want A–E or 1–5`, ":1:"},
		{"arc_easy", "arcmissing.jsonl", LoadOptions{}, `question.choices[0].text`, ":1:"},
		{"boolq", "boolq.jsonl", LoadOptions{}, `field "answer": want true/false`, ":1:"},
		{"winogrande", "wino.jsonl", LoadOptions{}, "no blank", ":1:"},
		{"winogrande", "winoans.jsonl", LoadOptions{}, `field "answer": want an integer`, ":1:"},
		{"rte", "rte.tsv", LoadOptions{}, `label "-1"`, ":3:"},
		{"rte", "rtecols.tsv", LoadOptions{}, "wrong number of fields", ":2:"},
		{"rte", "rtequote.tsv", LoadOptions{}, "3 fields, want 4", ":3:"},
		{"rte", "rteempty.tsv", LoadOptions{}, "no documents", ""},
		{"rte", "rtehead.tsv", LoadOptions{}, `no column "sentence1"`, ":1:"},
		{"hellaswag", "hs.txt", LoadOptions{}, "incomplete item: 3 lines", ":7:"},
		{"hellaswag", "hsgold.txt", LoadOptions{}, `gold "x"`, ":2:"},
		{"hellaswag", "hsgoldrange.txt", LoadOptions{}, "gold index 4 out of range", ":1:"},
		{"hellaswag", "", LoadOptions{HellaSwagCtx: "upper"}, `ctx mode "upper"`, ""},
		{"piqa", "piqa/valid.jsonl", LoadOptions{}, "valid-labels.lst", ""},
		{"piqa", "piqa2/valid.jsonl", LoadOptions{}, "1 labels for 2 documents", ""},
		{"piqa", "piqa3/valid.jsonl", LoadOptions{}, `label "one"`, ":1:"},
		{"boolq", "blank.jsonl", LoadOptions{}, "no documents", ""},
		{"boolq", "xml.jsonl", LoadOptions{}, "layout not recognised", ""},
		{"boolq", "garbled1.jsonl", LoadOptions{}, "invalid JSON", ":2:"},
		{"mmlu", "", LoadOptions{}, `task "mmlu": unknown task`, ""},
	}
	for _, c := range cases {
		t.Run(c.task+"/"+c.file, func(t *testing.T) {
			if c.file != "" {
				c.opts.Path = filepath.Join(dir, c.file)
			}
			_, err := LoadTask(c.task, dir, c.opts)
			if err == nil {
				t.Fatal("no error")
			}
			msg := err.Error()
			if !strings.Contains(msg, c.want) || !strings.Contains(msg, c.line) || strings.Contains(msg, "\n") ||
				(c.file != "" && !strings.Contains(msg, c.file)) {
				t.Errorf("error %q: want one line naming %q%s and containing %q", msg, c.file, c.line, c.want)
			}
			if c.task == "mmlu" && !errors.Is(err, ErrUnknownTask) {
				t.Errorf("error %v is not ErrUnknownTask", err)
			}
		})
	}
}

// TestRTESharedQuoting: the shared file is CSV-quoted, so its doubled quotes
// become single ones.
func TestRTESharedQuoting(t *testing.T) {
	task, err := LoadTask("rte", datatest.Dir(t), LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if q := task.Settings["rte.tsv.quoting"]; q != "csv" {
		t.Errorf("quoting %q, want csv", q)
	}
	found := 0
	for _, d := range task.Docs {
		if strings.Contains(d.Contexts[0], `Kevorkian, famed as "Dr. Death," has`) {
			found++
		}
	}
	if found != 1 {
		t.Errorf(`%d contexts hold Kevorkian, famed as "Dr. Death," has; want 1`, found)
	}
}
