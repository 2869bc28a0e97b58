#pragma once
// The page's inline style and script (no framework, no CDN). The script only filters rows,
// and in a served page inserts rows and views the server rendered (escaped) for new mail
// announced by server-sent events; it never builds HTML from mail itself.
namespace dropcheck::web::assets {

inline constexpr const char* kStyle = R"CSS(
body{font:14px/1.4 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#243447;color:#fff;padding:8px 16px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}
header input{flex:1;max-width:420px;padding:4px 8px;font-size:14px}
main{padding:8px 16px}
table{border-collapse:collapse;width:100%;background:#fff}
th,td{border-bottom:1px solid #ddd;padding:3px 6px;text-align:left;vertical-align:top}
#list tbody tr:hover{background:#eef4ff}
#list a{color:#124;text-decoration:none;font-weight:600}
.code2{color:#176117}.code4{color:#8a5a00}.code5{color:#a11}
.rcpt{white-space:nowrap;margin-right:8px}
.badge{display:inline-block;background:#c62828;color:#fff;border-radius:8px;padding:0 6px;font-size:12px}
section.msg{display:none;margin-top:16px;background:#fff;border:1px solid #ccc;padding:8px 12px}
section.msg:target{display:block}
.cols{display:flex;gap:16px;flex-wrap:wrap}.cols>div{flex:1;min-width:320px}
tr.leak th,tr.leak td,span.leak{background:#ffd6d6}
tr.stamped th,tr.stamped td,span.stamped{background:#fff3c4}
tr.finding th,tr.finding td,span.finding{outline:2px solid #c62828;font-weight:600}
ul.findings{background:#fff0f0;border:1px solid #e0a0a0;padding:6px 24px}
pre.raw{background:#f4f4f4;padding:8px;overflow:auto;max-height:480px;white-space:pre-wrap;word-break:break-all}
pre.raw span{display:block}
.note{color:#666;font-size:12px}
.tag{font-size:11px;border-radius:4px;padding:0 4px;margin-left:4px;white-space:nowrap}
)CSS";

inline constexpr const char* kScript = R"JS(
(function(){
  var q=document.getElementById('q'),tbody=document.querySelector('#list tbody');
  function filter(){
    var v=q.value.trim().toLowerCase(),n=0,rows=tbody.rows;
    for(var i=0;i<rows.length;i++){var ok=!v||rows[i].dataset.search.indexOf(v)>=0;rows[i].hidden=!ok;if(ok)n++;}
    document.getElementById('shown').textContent=n;
  }
  q.addEventListener('input',filter);
  if(document.body.dataset.live!=='1'||!window.EventSource)return;
  var es=new EventSource('api/events');
  es.addEventListener('added',function(e){
    var id=JSON.parse(e.data).id;
    if(document.getElementById('m-'+id))return;
    fetch('page/items/'+id).then(function(r){return r.ok?r.json():null;}).then(function(f){
      if(!f||document.getElementById('m-'+id))return;
      tbody.insertAdjacentHTML('afterbegin',f.row);
      document.getElementById('details').insertAdjacentHTML('beforeend',f.detail);
      var c=document.getElementById('count');c.textContent=String(Number(c.textContent)+1);
      filter();
    });
  });
  es.addEventListener('reset',function(){location.reload();});
})();
)JS";

}  // namespace dropcheck::web::assets
