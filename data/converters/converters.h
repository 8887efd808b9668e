// Every converter function; data/converters/registry.cpp maps names (as written in task cards'
// `converter:`) to them. One function per source format; see each file's opening comment.
#pragma once
#include "data/convert.h"

namespace flame::data::converters {

#define FLAME_CONVERTER(fn) void fn(const TaskCard& card, const ConvertInput& in, ExampleSink& sink)

// synthetic_source.cpp: the embedded synthetic generator, so it goes through the same pipeline.
FLAME_CONVERTER(synthetic);

// preference_sources.cpp: pairwise / ranking human preferences.
FLAME_CONVERTER(hh_rlhf);              // gzip JSONL chosen/rejected dialogue strings
FLAME_CONVERTER(pandalm);              // JSON array, 3 annotators (1/2/0=tie)
FLAME_CONVERTER(autoj);                // JSONL, label 0/1/2=tie
FLAME_CONVERTER(faireval);             // questions + per-model answers JSONL + label lines
FLAME_CONVERTER(cobbler);              // win-count rankings of 15 models -> pairs
FLAME_CONVERTER(bartscore_pointwise);  // BARTScore data.jsonl: one human metric per summary
FLAME_CONVERTER(bartscore_pairwise);   // BARTScore Rank19 (correct vs incorrect), WMT DARR

// judgment_sources.cpp: classification and pointwise human labels.
FLAME_CONVERTER(summedits);           // JSON array, label 1/0
FLAME_CONVERTER(qags);                // JSONL, per summary sentence, 3 yes/no votes
FLAME_CONVERTER(begin);               // TSV (no quoting), 3-way attribution
FLAME_CONVERTER(halueval);            // JSONL, hallucination yes/no
FLAME_CONVERTER(factcheck_response);  // JSONL, response_label true/false
FLAME_CONVERTER(factcheck_claims);    // JSONL, claims[i] / claim_labels[i]
FLAME_CONVERTER(wice);                // JSONL, 3-way entailment
FLAME_CONVERTER(cola);                // headerless TSV, acceptability 1/0
FLAME_CONVERTER(ice_score);           // JSON array per problem, 20 candidates, execution 0/1
FLAME_CONVERTER(mr_gsm8k);            // JSON array, human first-error step
FLAME_CONVERTER(wmt_mqm);             // MQM TSVs: avg segment scores joined with the segments
FLAME_CONVERTER(mlqe_pe);             // tar.gz of TSV, Direct Assessment 0-100

// generic_sources.cpp: declarative field mapping for JSON / JSONL / CSV / TSV files, used by
// the cards of datasets users download themselves.
FLAME_CONVERTER(fields);

#undef FLAME_CONVERTER

}  // namespace flame::data::converters
